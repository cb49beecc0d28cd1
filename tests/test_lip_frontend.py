"""Lip front-end: official key layout, parameter counts, parity with the reference fixtures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from shared_data import SHARED

from avss_bench import AvssError
from avss_bench.models.lip_frontend import (
    LipFrontend,
    load_frontend_weights,
    load_lip_frontend,
)

REF = SHARED / "data" / "reference" / "lipfrontend"


def _load(name: str):
    return torch.load(REF / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def fixture():
    torch.set_num_threads(2)
    return {"sd": _load("state_dict.pt"), "inp": _load("inputs.pt"),
            "exp": _load("expected.pt"), "params": json.loads((REF / "params.json").read_text())}


def test_state_dict_keys_and_shapes_are_official(fixture) -> None:
    ours = LipFrontend().state_dict()
    official = fixture["params"]["state_dict"]
    assert list(ours) == list(official)  # same keys, same (registration) order
    for key, meta in official.items():
        assert list(ours[key].shape) == meta["shape"], key


def test_parameter_counts_per_module(fixture) -> None:
    model = LipFrontend()
    modules = dict(model.named_modules())
    for path, count in fixture["params"]["modules"].items():
        module = model if path == "(root)" else modules[path]
        assert sum(p.numel() for p in module.parameters()) == count, path
    assert sum(p.numel() for p in model.parameters()) == 11_186_688


def test_load_lip_frontend_is_frozen_and_eval(fixture, tmp_path: Path) -> None:
    path = tmp_path / "fe.pt"
    torch.save(fixture["sd"], path)
    frontend = load_lip_frontend(path)
    assert not frontend.training
    assert all(not p.requires_grad for p in frontend.parameters())


@pytest.mark.parametrize("length", ["1s", "2s"])
def test_parity_float32(fixture, length: str) -> None:
    frontend = load_lip_frontend(fixture["sd"])
    with torch.no_grad():
        y = frontend(fixture["inp"][f"lip_{length}"].clone())
    ref = fixture["exp"][f"emb_{length}_f32"]
    assert y.shape == ref.shape
    assert (y - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_parity_float64(fixture) -> None:
    frontend = load_lip_frontend(fixture["sd"]).double()
    with torch.no_grad():
        y = frontend(fixture["inp"]["lip_1s"].clone().double())
    ref = fixture["exp"]["emb_1s_f64"]
    assert y.dtype == torch.float64
    assert (y - ref).abs().max() <= 1e-10 * ref.abs().max()


def test_accepts_lrw_checkpoint_layouts(fixture, tmp_path: Path) -> None:
    sd = fixture["sd"]
    lrw = {"model_state_dict": {**{f"module.{k}": v for k, v in sd.items()},
                                "module.tcn.tcn_output.weight": torch.zeros(500, 768),
                                "module.tcn.tcn_output.bias": torch.zeros(500)},
           "epoch_idx": 80}
    path = tmp_path / "lrw_resnet18_mstcn.pth.tar"
    torch.save(lrw, path)
    frontend = load_frontend_weights(LipFrontend(), path)
    for key, value in sd.items():
        assert torch.equal(frontend.state_dict()[key], value), key
    wrapped = {"state_dict": {f"encoder.visual_frontend.{k}": v for k, v in sd.items()}}
    load_frontend_weights(LipFrontend(), wrapped)


def test_missing_keys_are_an_error(fixture) -> None:
    partial = {k: v for k, v in fixture["sd"].items() if not k.startswith("trunk.layer4")}
    with pytest.raises(AvssError, match="missing"):
        load_frontend_weights(LipFrontend(), partial)
    with pytest.raises(AvssError, match="not found"):
        load_lip_frontend("/nonexistent/fe.pth.tar")


def test_frozen_bn_keeps_batchnorm_in_eval(fixture) -> None:
    lips = fixture["inp"]["lip_1s"][:, :, :5].clone()
    frozen = load_lip_frontend(fixture["sd"], frozen_bn=True).train()
    plain = load_lip_frontend(fixture["sd"], frozen_bn=False)
    with torch.no_grad():
        ref = plain(lips)
        assert torch.equal(frozen(lips), ref)  # running statistics, none updated
        plain.train()
        assert not torch.allclose(plain(lips), ref)  # batch statistics
    assert frozen.frontend3D[1].num_batches_tracked.item() == fixture["sd"][
        "frontend3D.1.num_batches_tracked"].item()


def test_shape_check() -> None:
    with pytest.raises(ValueError):
        LipFrontend()(torch.zeros(1, 3, 2, 88, 88))


def test_a_file_without_frontend_weights_is_an_error(tmp_path) -> None:
    """A separator release (no frontend3D.*/trunk.* keys) must not load as a front-end."""
    from avss_bench.models.lip_frontend import LipFrontend, load_frontend_weights

    release = {"state_dict": {"encoder.weight": torch.zeros(9, 1, 16),
                              "sm.audio_blocks.0.weight": torch.zeros(3)}}
    path = tmp_path / "best_model.pth"
    torch.save(release, path)
    with pytest.raises(AvssError, match="holds no lip front-end weights"):
        load_frontend_weights(LipFrontend(), path)


def test_known_release_sha256_is_enforced(tmp_path, monkeypatch) -> None:
    from avss_bench.models import lip_frontend as lf

    path = tmp_path / "lrw_resnet18_mstcn_adamw_s3.pth.tar"
    torch.save({"model_state_dict": lf.LipFrontend().state_dict()}, path)
    known = lf.FRONTEND_RELEASES[path.name]
    monkeypatch.setitem(lf.FRONTEND_RELEASES, path.name,
                        dataclasses.replace(known, sha256="0" * 64))
    with pytest.raises(AvssError, match="does not match the published"):
        lf.load_frontend_weights(lf.LipFrontend(), path)
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache/frontends").mkdir(parents=True)
    path.rename(tmp_path / "cache/frontends" / path.name)
    assert lf.find_frontend_checkpoint(path.name) == tmp_path / "cache/frontends" / path.name
