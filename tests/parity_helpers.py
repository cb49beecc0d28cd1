"""Helpers of the parity tests against an official implementation's saved outputs.

The model tests (CTCNet, Dolphin, RTFS-Net) compare our forward pass with tensors the official
code wrote to `../shared/data/reference/<model>/`; a missing fixture fails, never skips.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from avss_bench import AvssError


def load_fixture(path: Path) -> Any:
    """A saved reference tensor/state dict; the test fails when the file is missing."""
    if not path.is_file():  # fail, never skip: the fixtures are part of the test
        pytest.fail(f"parity fixture missing: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def reference_fixture(folder: Path) -> Any:
    """A module-scoped `ref` fixture: :func:`load_reference` of `folder`, on 2 torch threads.

    Use as `ref = reference_fixture(REF)` at a test module's top level.
    """

    @pytest.fixture(scope="module")
    def ref() -> dict:
        torch.set_num_threads(2)
        return load_reference(folder)

    return ref


def load_reference(folder: Path, *, inputs: bool = True) -> dict:
    """One reference folder: `sd` (official weights), `exp` (outputs), `params` (key layout and
    counts) and, with `inputs`, `inp` (the inputs the outputs were computed from)."""
    ref = {"sd": load_fixture(folder / "state_dict.pt")}
    if inputs:
        ref["inp"] = load_fixture(folder / "inputs.pt")
    ref["exp"] = load_fixture(folder / "expected.pt")
    ref["params"] = json.loads((folder / "params.json").read_text())
    return ref


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest absolute difference relative to the reference's peak."""
    return ((y.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def subsample(full: torch.Tensor, inter: dict, key: str) -> torch.Tensor:
    """The entries of `full` the official dump kept for intermediate `key` (`<key>.idx<d>`)."""
    v = full
    for d in range(v.ndim):
        v = v.index_select(d, inter[f"{key}.idx{d}"])
    return v


def dumped_names(inter: dict, prefix: str) -> set[str]:
    """The names of the tensors the official dump holds under `prefix` (e.g. `f32_1s/`), without
    their `.shape`, `.stats` and `.idx<d>` companions."""
    return {k[len(prefix):] for k in inter if k.startswith(prefix)
            and not k.endswith((".shape", ".stats")) and ".idx" not in k}


def assert_matches_dump(full: torch.Tensor, inter: dict, key: str, *, tol: float, rtol: float,
                        atol: float) -> None:
    """A captured tensor against the official dump's `key`: the same shape, the dumped entries
    within `tol` of the stored peak, and the summary statistics (mean, std, min, max, mean |x|)
    within `rtol`/`atol`."""
    assert list(full.shape) == inter[f"{key}.shape"].tolist(), key
    stored = inter[key]
    scale = stored.abs().max().clamp_min(1e-12)
    assert (subsample(full, inter, key) - stored).abs().max() / scale <= tol, key
    f = full.double()
    stats = torch.stack([f.mean(), f.std(unbiased=False), f.min(), f.max(), f.abs().mean()])
    assert torch.allclose(stats, inter[f"{key}.stats"], rtol=rtol, atol=atol), key


def save_with_wrong_keys(sd: dict, path: Path, *, missing: str,
                         unexpected: str = "extra.weight") -> Path:
    """Save `sd` without the key `missing` and with an extra key `unexpected` to `path`: a
    checkpoint the loaders must refuse, naming both keys."""
    broken = {k: v for k, v in sd.items() if k != missing}
    broken[unexpected] = torch.zeros(1)
    torch.save(broken, path)
    return path


def assert_refused_in_one_line(load: Callable[[Path], object], path: Path,
                               *names: str) -> None:
    """`load(path)` raises AvssError with a one-line message that names `path` and `names`."""
    with pytest.raises(AvssError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for name in names:
        assert name in message, name


def run_in_dtype(model: torch.nn.Module, forward: Callable[..., torch.Tensor],
                 *inputs: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`forward(*inputs)` without gradients with the model and inputs cast to `dtype`; the model
    is returned to float32 afterwards (the module fixtures share it between tests)."""
    model.to(dtype)
    try:
        with torch.no_grad():
            return forward(*(x.to(dtype) for x in inputs))
    finally:
        model.float()
