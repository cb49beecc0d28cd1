"""Our checkpoint format: the separator's name, its rebuilding config, and its weights.

`{"format": "avss-bench/1", "separator": name, "config": {...}, "state_dict": {...}, ...}`
saved with torch.save and always loaded with `weights_only=True`. Files are written to a
temporary name and renamed, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from avss_bench.core.atomic import write_torch
from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import sha256_of  # noqa: F401 - re-exported for callers

FORMAT = "avss-bench/1"


def save_checkpoint(model: torch.nn.Module, path: Path, separator: str,
                    extra: dict[str, Any] | None = None) -> None:
    """Write model weights with the config that rebuilds the model."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise AvssError(f"{type(model).__name__} has no `config` dict; cannot checkpoint it")
    payload = {"format": FORMAT, "separator": separator, "config": config,
               "state_dict": model.state_dict()}
    payload.update(extra or {})
    write_torch(path, payload)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint file safely (`weights_only=True`), with a one-line error if unreadable."""
    if not path.is_file():
        raise AvssError("checkpoint not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise AvssError(f"cannot read checkpoint: {str(err).splitlines()[0]}", path) from err


def trained_with_random_frontend(payload: dict[str, Any]) -> bool:
    """Whether our checkpoint comes from a run trained against a random lip front-end on
    purpose (`model.frontend_checkpoint: random`): its front-end weights are not trained."""
    training = payload.get("training")
    config = training.get("config") if isinstance(training, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    from avss_bench.models.lip_frontend import RANDOM

    return isinstance(model, dict) and model.get("frontend_checkpoint") == RANDOM


def load_into_class(cls: type, path: Path, **config: Any) -> torch.nn.Module:
    """Build `cls` from a checkpoint: ours, or whatever `cls.load_checkpoint` understands."""
    custom = getattr(cls, "load_checkpoint", None)
    if path.suffix != ".zip":
        payload = read_checkpoint(path)
        if isinstance(payload, dict) and payload.get("format") == FORMAT:
            merged = {**payload["config"], **config}
            model = cls(**merged)
            missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
            if missing or unexpected:
                raise AvssError(f"checkpoint does not fit {cls.__name__}: "
                                f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}",
                                path)
            model.frontend_loaded = not trained_with_random_frontend(payload)
            return model
    if custom is None:
        raise AvssError(f"not an avss-bench checkpoint and {cls.__name__} "
                        "has no load_checkpoint() for other formats", path)
    return custom(path, **config)
