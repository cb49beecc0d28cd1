"""Helpers every model package needs to honour the Separator contract and load weights strictly.

One implementation of: accepting a mixture as `[B, T]` (or `[T]`, `[B, 1, T]`), listing keys in
an error message, sorting an official AV checkpoint's keys into separator and lip front-end, and
checking that a state dict fits a model exactly (missing, unexpected and wrongly shaped tensors
are one-line `AvssError`s naming the file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from avss_bench.core.errors import AvssError


def as_batch(mixture: torch.Tensor) -> torch.Tensor:
    """`[T]` -> `[1, T]`, `[B, 1, T]` -> `[B, T]`, `[B, T]` unchanged; anything else: ValueError."""
    if mixture.ndim == 1:
        return mixture.unsqueeze(0)
    if mixture.ndim == 3 and mixture.shape[1] == 1:
        return mixture[:, 0]
    if mixture.ndim != 2:
        raise ValueError(f"mixture must be [B, T], got {list(mixture.shape)}")
    return mixture


def key_listing(what: str, keys: Sequence[str], limit: int = 8) -> str:
    """`"3 missing key(s) ['a', 'b', 'c']"`, the first `limit` keys and a count of the rest."""
    more = f" ... (+{len(keys) - limit})" if len(keys) > limit else ""
    return f"{len(keys)} {what} key(s) {list(keys[:limit])}{more}"


#: wrappers that DataParallel/DDP (`module.`) and `torch.compile` (`_orig_mod.`) put before keys
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def split_official_keys(state: Mapping[object, object], separator_roots: tuple[str, ...],
                        model: str, source: object
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(separator, lip front-end) state dicts from an official AV training checkpoint.

    The official Lightning wrappers store the separator under `audio_model.` and the lip
    front-end under `video_model.` (ours: `lip_frontend.`); a bare separator state dict has its
    keys under `separator_roots`. Wrapper prefixes are dropped first.

    Raises:
        AvssError: a key fitting neither part (or a non-tensor entry), naming `source`.
    """
    separator: dict[str, torch.Tensor] = {}
    frontend: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            unexpected.append(str(key))
            continue
        name = key
        while name.startswith(WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if name.startswith("audio_model."):
            separator[name[len("audio_model."):]] = value
        elif name.startswith(("video_model.", "lip_frontend.")):
            frontend[name.split(".", 1)[1]] = value
        elif name.startswith(separator_roots):
            separator[name] = value
        else:
            unexpected.append(key)
    if unexpected:
        raise AvssError(f"does not fit {model}: {key_listing('unexpected', unexpected)}", source)
    return separator, frontend


def fit_state_dict(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                   model: str, source: object) -> dict[str, torch.Tensor]:
    """`state` checked against `expected` (a model's own state dict), ready for loading.

    BatchNorm `num_batches_tracked` counters that older files lack are filled with zeros (they
    do not change outputs in eval mode).

    Raises:
        AvssError: missing or unexpected keys, or tensors whose shape differs (a config
            mismatch), in one line naming `source` and `model`.
    """
    state = dict(state)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise AvssError(f"does not fit {model}: {key_listing('missing', missing)}, "
                        f"{key_listing('unexpected', unexpected)}", source)
    wrong = [f"{k}: {list(state[k].shape)} != {list(v.shape)}"
             for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise AvssError(f"does not fit {model}: wrongly shaped tensors (config mismatch, e.g. "
                        f"channel widths?): {wrong[:6]}", source)
    return state
