"""The separator registry: every separator, bundled or a user's plugin, found the same way.

Separators register through the entry-point group `avss_bench.separators`
(`name = "package.module:Class"`) or are named directly by import path
(`package.module:Class`). A separator class honours the Separator contract (ARCHITECTURE.md,
"Contracts"; every hook it may offer is listed in README.md, "Your own separator"):
`forward(mixture [B, T], lips [B, 1, F, 88, 88] | None) -> [B, T]` and a `config` dict that
rebuilds it via `Class(**config)`; its `card` (`models.card.ModelCard`) says what it is.

The front-end rule, the same for every separator: a model whose card says
`needs_frontend_weights` is loaded from a checkpoint only when that checkpoint held its visual
encoder's weights (its loader sets `model.frontend_loaded = True`; our own checkpoints always
hold them unless they were trained against a random front-end), when they are given separately
(`frontend_checkpoint`), or when random ones are asked for (`random_frontend`, the CLI's
`--random-init`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points, packages_distributions, version
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

    def package(self) -> dict[str, str | None]:
        """The distribution that provides the class's top-level module: its name and version
        (``{"name": None, "version": None}`` for a module that no installed distribution
        provides, e.g. a file on ``PYTHONPATH``)."""
        top = self.target.split(":", 1)[0].split(".", 1)[0]
        names = packages_distributions().get(top) or []
        if not names:
            return {"name": None, "version": None}
        name = sorted(names)[0]
        return {"name": name, "version": version(name)}


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
                   random_frontend: bool = False, fast: bool | str | None = None,
                   **config: Any):
    """Return a separator in eval mode, optionally with weights.

    The model comes wrapped for fast CPU inference (`avss_bench.models.inference`: compiled
    graphs cached on disk; the eager model is `.eager`) unless `fast=False` or
    `AVSS_BENCH_FAST=off`.

    Args:
        name_or_path: a registered name (`avss-bench models`) or `package.module:Class`.
        checkpoint: our checkpoint file (config + weights), or any format the class's
            `load_checkpoint` classmethod understands (e.g. an official state dict or zip).
        frontend_checkpoint: weights for the visual encoder alone (AV models only).
        random_frontend: accept a checkpoint without the visual encoder's weights that the
            card says are needed, and no `frontend_checkpoint` (the encoder keeps its random
            initialisation): for tests and debugging only, never for results.
        fast: True/`"auto"`, `"now"`, `"cached"` or False/`"off"`
            (`avss_bench.models.inference.fast_mode`; None: `$AVSS_BENCH_FAST`, else auto).
        **config: constructor arguments; override those stored in the checkpoint.

    Raises:
        AvssError: an official file whose known sha256 differs; a checkpoint that does not fit;
            a checkpoint without front-end weights for a model that needs them (see the module
            docstring) without `frontend_checkpoint` or `random_frontend`.
    """
    from avss_bench.models import checkpoints

    entry = separators.resolve(name_or_path)
    cls = entry.load_class()
    card = card_of(cls, entry.name)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        card.check_official_sha256(checkpoint)
        try:
            model = checkpoints.load_into_class(cls, checkpoint, **config)
        except (TypeError, AvssError) as err:
            if isinstance(err, AvssError) and "does not fit" not in str(err):
                raise
            raise checkpoint_mismatch(name_or_path, cls, checkpoint, err) from None
    else:
        try:
            model = cls(**config)
        except TypeError as err:
            if "argument" not in str(err):
                raise
            raise AvssError(f"separator '{name_or_path}': bad configuration: "
                            f"{str(err).splitlines()[0]}") from None
    if frontend_checkpoint is not None:
        card.check_official_sha256(frontend_checkpoint)
        load_visual_encoder(model, Path(frontend_checkpoint), name_or_path)
    elif (checkpoint is not None and card.needs_frontend_weights and not random_frontend
          and getattr(model, "frontend_loaded", None) is not True):
        files = [f.name for f in card.official_files if f.frontend]
        example = f" (e.g. {' or '.join(files)})" if files else ""
        raise AvssError(f"this checkpoint holds no lip front-end weights, which '{name_or_path}' "
                        f"needs trained ({card.visual_encoder or 'its visual encoder'}): give "
                        f"them with --frontend-checkpoint{example} or, for debugging only, "
                        "--random-init", checkpoint)
    from avss_bench.models.inference import fast_separator

    return fast_separator(model.eval(), fast)


def load_visual_encoder(model: Any, path: Path, name: str) -> None:
    """Fill a separator's visual encoder from a file: its own `load_visual_encoder(path)` hook
    when it has one, else the LRW lip front-end loader; marks `model.frontend_loaded`."""
    from avss_bench.models.lip_frontend import LipFrontend, load_frontend_weights

    hook = getattr(model, "load_visual_encoder", None)
    if callable(hook):
        hook(path)
    else:
        frontend = getattr(model, "lip_frontend", None)
        if not isinstance(frontend, LipFrontend):
            raise AvssError(f"separator '{name}' has no LRW lip front-end and no "
                            "load_visual_encoder() to load this file into", path)
        load_frontend_weights(frontend, path)
    model.frontend_loaded = True


def model_from_checkpoint(model: str | None, checkpoint: Path | None) -> str:
    """The separator to use: `model`, else the one our checkpoint records; a mismatch is an error.

    Official state dicts and release zips record no separator, so `--model` is needed for them.
    """
    from avss_bench.models.checkpoints import FORMAT, read_checkpoint

    recorded = None
    if checkpoint is not None and Path(checkpoint).suffix != ".zip":
        payload = read_checkpoint(Path(checkpoint))
        if isinstance(payload, dict) and payload.get("format") == FORMAT:
            recorded = payload.get("separator")
    if model is None:
        if recorded is None:
            raise AvssError("--model is needed: this checkpoint records no separator"
                            if checkpoint is not None else
                            "--model is needed when no --checkpoint is given", checkpoint)
        return str(recorded)
    if recorded is not None and _target(model) != _target(str(recorded)):
        raise AvssError(f"this checkpoint is for separator '{recorded}', not '{model}' "
                        "(omit --model to use the recorded one)", checkpoint)
    return model


def _target(name: str) -> str:
    try:
        return separators.resolve(name).target
    except AvssError:
        return name


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
