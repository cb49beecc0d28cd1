"""A separator's card: the facts about a model that every verb needs, kept with the model.

A separator class (bundled or a user's plugin) describes itself with a class attribute
``card = ModelCard(...)``; `table`, `profile`, `report`, `evaluate` and `load_separator` read it
through :func:`card_of`, so nothing in `avss_bench` names a bundled model. A class without a card
gets a default one named after its registered name, and works everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import sha256_of


@dataclass(frozen=True)
class OfficialFile:
    """A released file the model's loaders read: its file name, where users get it, its sha256.

    ``sha256`` is None where no checksum is published or known to us (the card and README say
    so); a known one is checked whenever a file of that name is loaded.
    """

    name: str
    url: str
    sha256: str | None
    what: str = ""  # e.g. "LRS2 release (separator weights only)"
    #: holds the visual encoder's weights (what --frontend-checkpoint and
    #: model.frontend_checkpoint take)
    frontend: bool = False


@dataclass(frozen=True)
class ModelCard:
    """What a separator is, how its papers count it and what it needs to run.

    Attributes:
        name: display name in tables; may name config fields, e.g. ``"RTFS-Net-{repeats}"``.
        paper: the paper that introduced the model (short citation).
        reported_as: the ``method`` of its rows in the published tables
            (``recipes/<corpus>/reported.csv``), a template like ``name``; None: never
            published (no published row is matched to it).
        counting: how the papers count its Params and MACs (what `profile` prints beside ours).
        macs_seconds: the input length (s) behind the papers' MACs (1 or 2), if known.
        visual_encoder: the visual encoder it uses (``"LRW ResNet-18 front-end"``), None for an
            audio-only separator.
        visual_encoder_note: Params/MACs of that encoder and whether the papers count it.
        needs_frontend_weights: a checkpoint without trained visual-encoder weights is refused
            unless the user asks for random ones (``--random-init``).
        official_files: released weights its loaders fetch, each with its sha256.
    """

    name: str
    paper: str = ""
    reported_as: str | None = None
    counting: str = ""
    macs_seconds: float | None = None
    visual_encoder: str | None = None
    visual_encoder_note: str = ""
    needs_frontend_weights: bool = False
    official_files: tuple[OfficialFile, ...] = field(default_factory=tuple)

    def display_name(self, config: Mapping[str, Any] | None = None) -> str:
        """The name of a row, with config fields filled in (``RTFS-Net-12``)."""
        return _fill(self.name, config)

    def reported_method(self, config: Mapping[str, Any] | None = None) -> str | None:
        """The published rows' ``method`` for this configuration, or None."""
        return None if self.reported_as is None else _fill(self.reported_as, config)

    def official_file(self, name: str) -> OfficialFile | None:
        """The official file called ``name`` (a file name, not a path), if the card lists it."""
        return next((f for f in self.official_files if f.name == name), None)

    def check_official_sha256(self, path: str | Path) -> None:
        """Refuse a file named like one of the official files whose sha256 differs from the
        known one (nothing to check where the sha256 is not known)."""
        path = Path(path)
        known = self.official_file(path.name)
        if known is None or known.sha256 is None or not path.is_file():
            return
        actual = sha256_of(path)
        if actual != known.sha256:
            raise AvssError(f"sha256 {actual} is not the published {known.sha256} of "
                            f"{known.name} (corrupt or a different file)", path)


def _fill(template: str, config: Mapping[str, Any] | None) -> str:
    try:
        return template.format(**dict(config or {}))
    except (KeyError, IndexError, ValueError):
        return template.split("{", 1)[0].rstrip("-_ ") or template


def card_of(cls_or_model: Any, registered_name: str | None = None) -> ModelCard:
    """The card a separator class (or instance) carries, else a default named after it."""
    card = getattr(cls_or_model, "card", None)
    if isinstance(card, ModelCard):
        return card
    cls = cls_or_model if isinstance(cls_or_model, type) else type(cls_or_model)
    return ModelCard(name=registered_name or cls.__name__)
