"""The separator registry: every separator, bundled or a user's plugin, found the same way.

Separators register through the entry-point group `avss_bench.separators`
(`name = "package.module:Class"`) or are named directly by import path
(`package.module:Class`). A separator class honours the Separator contract (DESIGN.md):
`forward(mixture [B, T], lips [B, 1, F, 88, 88] | None) -> [B, T]` and a `config` dict that
rebuilds it via `Class(**config)`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError
from avss_bench.models.card import ModelCard, card_of

GROUP = "avss_bench.separators"


@dataclass(frozen=True)
class SeparatorEntry:
    """One registered separator: its name and where its class lives."""

    name: str
    target: str  # "package.module:Class"

    def load_class(self) -> type:
        return import_object(self.target)

    def card(self) -> ModelCard:
        """The model's card (``card`` on its class), else a default named after it."""
        return card_of(self.load_class(), self.name)


def import_object(target: str) -> Any:
    """Import `package.module:Attr`, with a one-line error when it cannot be found."""
    if ":" not in target:
        raise AvssError(f"'{target}' is not an import path of the form package.module:Class")
    module_name, attr = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise AvssError(f"cannot import module '{module_name}' for '{target}': {err}") from err
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as err:
        raise AvssError(f"module '{module_name}' has no attribute '{attr}'") from err
    return obj


class SeparatorRegistry:
    """Separators by name, filled from the `avss_bench.separators` entry points."""

    def entries(self) -> dict[str, SeparatorEntry]:
        found = {}
        for ep in entry_points(group=GROUP):
            found[ep.name] = SeparatorEntry(ep.name, ep.value)
        return dict(sorted(found.items()))

    def resolve(self, name_or_path: str) -> SeparatorEntry:
        """Find a separator by registered name or by `package.module:Class` import path."""
        entries = self.entries()
        if name_or_path in entries:
            return entries[name_or_path]
        if ":" in name_or_path:
            return SeparatorEntry(name_or_path, name_or_path)
        known = ", ".join(entries) or "(none)"
        raise AvssError(f"unknown separator '{name_or_path}'; registered: {known}; "
                        "or give package.module:Class")


separators = SeparatorRegistry()


def build_separator(name_or_path: str, **config: Any):
    """Instantiate a separator from its name or import path and constructor arguments."""
    cls = separators.resolve(name_or_path).load_class()
    return cls(**config)


def load_separator(name_or_path: str, checkpoint: str | Path | None = None,
                   frontend_checkpoint: str | Path | None = None, *,
                   random_frontend: bool = False, **config: Any):
    """Return a separator in eval mode, optionally with weights.

    Args:
        name_or_path: a registered name (`avss-bench models`) or `package.module:Class`.
        checkpoint: our checkpoint file (config + weights), or any format the class's
            `load_checkpoint` classmethod understands (e.g. an official state dict or zip).
        frontend_checkpoint: weights for the lip front-end alone (AV models only).
        random_frontend: accept a checkpoint without lip front-end weights and no
            `frontend_checkpoint` (the front-end keeps its random initialisation): for tests
            and debugging only, never for results.
        **config: constructor arguments; override those stored in the checkpoint.

    Raises:
        AvssError: a checkpoint whose loader reports no front-end weights (``frontend_loaded``
            is False, as for the official IIANet/CTCNet releases) without a
            `frontend_checkpoint` and without `random_frontend`.
    """
    from avss_bench.models import checkpoints

    cls = separators.resolve(name_or_path).load_class()
    if checkpoint is not None:
        try:
            model = checkpoints.load_into_class(cls, Path(checkpoint), **config)
        except (TypeError, AvssError) as err:
            if isinstance(err, AvssError) and "does not fit" not in str(err):
                raise
            raise checkpoint_mismatch(name_or_path, cls, Path(checkpoint), err) from None
    else:
        try:
            model = cls(**config)
        except TypeError as err:
            if "argument" not in str(err):
                raise
            raise AvssError(f"separator '{name_or_path}': bad configuration: "
                            f"{str(err).splitlines()[0]}") from None
    if frontend_checkpoint is not None:
        frontend = getattr(model, "lip_frontend", None)
        if frontend is None:
            raise AvssError(f"separator '{name_or_path}' has no lip front-end to load into")
        from avss_bench.models.lip_frontend import load_frontend_weights

        load_frontend_weights(frontend, Path(frontend_checkpoint))
    elif getattr(model, "frontend_loaded", True) is False and not random_frontend:
        raise AvssError("this checkpoint holds no lip front-end weights (the official releases "
                        "ship the separation network only): give the LRW lip-reading front-end "
                        "with --frontend-checkpoint (e.g. lrw_resnet18_mstcn_adamw_s3.pth.tar "
                        "for IIANet) or, for debugging only, --random-frontend", checkpoint)
    return model.eval()


def checkpoint_owner(path: Path) -> str | None:
    """The separator an avss-bench checkpoint was saved from (``None``: not recorded)."""
    from avss_bench.models import checkpoints

    try:
        payload = checkpoints.read_checkpoint(path)
    except AvssError:
        return None
    if isinstance(payload, dict) and payload.get("format") == checkpoints.FORMAT:
        owner = payload.get("separator")
        return str(owner) if owner else None
    return None


def checkpoint_mismatch(name_or_path: str, cls: type, path: Path,
                        err: BaseException) -> AvssError:
    """A one-line error for weights that do not build ``cls`` (usually another model's)."""
    owner = checkpoint_owner(path)
    if owner is not None:
        try:
            same = separators.resolve(owner).load_class() is cls
        except Exception:  # noqa: BLE001 - an unregistered owner is simply another model
            same = False
        if not same:
            return AvssError(f"this checkpoint is for '{owner}', not '{name_or_path}' "
                             f"(use --model {owner})", path)
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, AvssError) and err.path is not None:
        reason = reason.removeprefix(f"{err.path}: ")
    return AvssError(f"checkpoint does not fit {cls.__name__} ({reason})", path)
