"""CTCNet: official key layout, parameter counts, parity with the official code's outputs,
checkpoint formats, and the Separator contract."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from parity_helpers import (
    load_fixture,
    reference_fixture,
    rel_err,
    save_with_wrong_keys,
    subsample,
)
from shared_data import SHARED

from avss_bench import AvssError, load_separator
from avss_models.ctcnet import CTCNet
from avss_models.ctcnet.model import config_from_official

REF = SHARED / "data" / "reference" / "ctcnet"
FRONTEND_REF = SHARED / "data" / "reference" / "lipfrontend"

#: Small configuration for contract tests that need a forward/backward pass quickly.
TINY = dict(n_filters=16, kernel_size=21, stride=10, bn_chan=16, hid_chan=16,
            upsampling_depth=3, an_repeats=3, fn_repeats=1, vout_chan=512, video_chan=8,
            video_depth=3)


ref = reference_fixture(REF)


@pytest.fixture(scope="module")
def model(ref):
    return CTCNet().load_official_state_dict(ref["sd"]).eval()


@pytest.fixture(scope="module")
def traced_1s(model, ref):
    """One float32 forward on the 1 s input, with the official intermediates hooked."""
    captured: dict[str, torch.Tensor] = {}
    calls = {"audio": 0}
    masker = model.masker
    hooks = []

    def keep(name):
        def hook(_module, _inputs, output):
            captured[name] = output
        return hook

    def audio_hook(_module, _inputs, output):
        captured[f"audio_block.call{calls['audio']:02d}"] = output
        calls["audio"] += 1

    def fusion_hook(i):
        def hook(_module, _inputs, output):
            captured[f"fusion{i}_out_audio"] = output[0]
            if output[1] is not None:
                captured[f"fusion{i}_out_video"] = output[1]
        return hook

    hooks.append(model.encoder.register_forward_hook(keep("encoder_out")))
    hooks.append(masker.pre_a.register_forward_hook(keep("bottleneck_out")))
    hooks.append(masker.pre_v.register_forward_hook(keep("pre_v_out")))
    hooks.append(masker.post[1].register_forward_hook(keep("mask_logits")))
    hooks.append(masker.audio_block.register_forward_hook(audio_hook))
    for i, block in enumerate(masker.video_block.video):
        hooks.append(block.register_forward_hook(keep(f"video_block{i}_out")))
    for i, fusion in enumerate(masker.crossmodal_fusion):
        hooks.append(fusion.register_forward_hook(fusion_hook(i)))
    try:
        with torch.inference_mode():
            out = model.separate(ref["inp"]["mix_1s"], ref["inp"]["emb_1s"])
    finally:
        for h in hooks:
            h.remove()
    return out, captured


# ---------------------------------------------------------------- layout and counts
def test_state_dict_keys_shapes_and_order_are_official(ref) -> None:
    ours = CTCNet().separation_state_dict()
    official = ref["params"]["state_dict"]
    assert list(ours) == list(official)
    for key, meta in official.items():
        assert list(ours[key].shape) == meta["shape"], key
    # the encoder filterbank is one tensor under two official names
    model = CTCNet()
    assert model.encoder.filterbank is model.encoder.encoder.filterbank


def test_parameter_counts_per_module(ref) -> None:
    model = CTCNet()
    for path, count in ref["params"]["modules"].items():
        if path == "(root)":
            params = list(model.separation_parameters())
        else:
            params = list(model.get_submodule(path).parameters())
        assert sum(p.numel() for p in params) == count, path
    assert sum(p.numel() for p in model.separation_parameters()) == 7_147_357
    assert sum(p.numel() for p in model.lip_frontend.parameters()) == 11_186_688


def test_quirk_gln_beta_initialised_to_one() -> None:
    model = CTCNet(**TINY)
    gln = model.masker.pre_a[0]
    assert torch.equal(gln.gamma, torch.ones_like(gln.gamma))
    assert torch.equal(gln.beta, torch.ones_like(gln.beta))


# ---------------------------------------------------------------- parity
def test_parity_float32_1s(traced_1s, ref) -> None:
    out, _ = traced_1s
    expected = ref["exp"]["out_1s_f32"][:, 0]
    assert out.shape == expected.shape == (1, 16000)
    assert rel_err(out, expected) <= 1e-5


def test_intermediates_1s(traced_1s, ref) -> None:
    _, captured = traced_1s
    inter = load_fixture(REF / "intermediates.pt")
    names = sorted({k.split("/", 1)[1].rsplit(".", 1)[0] if k.endswith(
        (".shape", ".stats")) or ".idx" in k else k.split("/", 1)[1]
        for k in inter if k.startswith("f32_1s/")})
    # every official intermediate except the last fusion's discarded video output
    assert set(names) - set(captured) == {"fusion2_out_video"}
    for name in names:
        if name not in captured:
            continue
        key = f"f32_1s/{name}"
        full = captured[name]
        assert list(full.shape) == inter[f"{key}.shape"].tolist(), name
        scale = inter[f"{key}.stats"][3].abs().clamp_min(inter[f"{key}.stats"][2].abs()).item()
        diff = (subsample(full, inter, key) - inter[key]).abs().max().item()
        assert diff <= 1e-5 * scale, (name, diff, scale)


def test_parity_float64_1s(model, ref) -> None:
    model64 = CTCNet().load_official_state_dict(ref["sd"]).double().eval()
    with torch.inference_mode():
        out = model64.separate(ref["inp"]["mix_1s"].double(), ref["inp"]["emb_1s"].double())
    assert out.dtype == torch.float64
    assert rel_err(out, ref["exp"]["out_1s_f64"][:, 0]) <= 1e-10


@pytest.mark.slow
def test_parity_2s_float32_and_float64(model, ref) -> None:
    with torch.inference_mode():
        out = model.separate(ref["inp"]["mix_2s"], ref["inp"]["emb_2s"])
    assert rel_err(out, ref["exp"]["out_2s_f32"][:, 0]) <= 1e-5
    model64 = CTCNet().load_official_state_dict(ref["sd"]).double().eval()
    with torch.inference_mode():
        out64 = model64.separate(ref["inp"]["mix_2s"].double(), ref["inp"]["emb_2s"].double())
    assert rel_err(out64, ref["exp"]["out_2s_f64"][:, 0]) <= 1e-10


def test_forward_with_lips_runs_the_frontend(model, ref) -> None:
    """model(mix, lips) = separate(mix, lip_frontend(lips)), end to end against the fixture."""
    from avss_bench.models.lip_frontend import load_frontend_weights

    load_frontend_weights(model.lip_frontend, FRONTEND_REF / "state_dict.pt")
    with torch.inference_mode():
        emb = model.lip_frontend(ref["inp"]["lip_1s"])
        out = model(ref["inp"]["mix_1s"], ref["inp"]["lip_1s"])
    assert rel_err(emb, ref["inp"]["emb_1s"]) <= 1e-5
    assert rel_err(out, ref["exp"]["out_1s_f32"][:, 0]) <= 1e-4


# ---------------------------------------------------------------- contract
def test_config_rebuilds_and_arbitrary_lengths() -> None:
    torch.manual_seed(0)
    model = CTCNet(**TINY).eval()
    clone = CTCNet(**model.config)
    clone.load_state_dict(model.state_dict())
    clone.eval()
    mix = torch.randn(2, 12345)
    emb = torch.randn(2, 512, 19)
    with torch.inference_mode():
        a = model.separate(mix, emb)
        b = clone.separate(mix, emb)
        c = model(mix, torch.randn(2, 1, 3, 88, 88))
    assert a.shape == (2, 12345) and c.shape == (2, 12345)
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        model(mix, None)


def test_frontend_frozen_and_bn_eval_in_train_mode() -> None:
    model = CTCNet(**TINY).train()
    assert all(not p.requires_grad for p in model.lip_frontend.parameters())
    bns = [m for m in model.lip_frontend.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(m.training for m in bns)
    # the separation network's own video BatchNorms do train (batch statistics), as official
    video_bns = [m for m in model.masker.video_block.modules()
                 if isinstance(m, torch.nn.BatchNorm1d)]
    assert video_bns and all(m.training for m in video_bns)


def test_only_last_fusion_video_weights_get_no_gradient() -> None:
    torch.manual_seed(0)
    model = CTCNet(**TINY).train()
    out = model.separate(torch.randn(2, 4000), torch.randn(2, 512, 7))
    out.square().mean().backward()
    no_grad = sorted(n for n, p in model.named_parameters()
                     if p.requires_grad and p.grad is None)
    assert no_grad == [f"masker.crossmodal_fusion.2.W_video.{n}"
                       for n in ("conv.bias", "conv.weight", "norm.beta", "norm.gamma")]


# ---------------------------------------------------------------- checkpoints
def test_config_from_official_constructor_args(ref) -> None:
    mapped = config_from_official(ref["params"]["constructor_args"])
    defaults = CTCNet(**TINY).config | CTCNet().config
    # every official argument maps onto our default (upsampling_depth: the official default 5;
    # conv_before_upsample: ours, off = the official computation)
    assert set(defaults) - set(mapped) == {"upsampling_depth", "conv_before_upsample"}
    assert all(defaults[k] == v for k, v in mapped.items())
    with pytest.raises(AvssError, match="mask_act"):
        config_from_official({"mask_act": "sigmoid"})


def _official_release(sd: dict) -> dict:
    """The layout of the official `best_model.pth` (`serialize()`)."""
    args = {"fb_name": "FreeFB", "n_filters": 512, "kernel_size": 21, "stride": 10,
            "sample_rate": 16000, "in_chan": 512, "n_src": 1, "out_chan": 512,
            "an_repeats": 3, "fn_repeats": 13, "bn_chan": 512, "hid_chan": 512,
            "upsampling_depth": 5, "norm_type": "gLN", "mask_act": "relu",
            "act_type": "prelu", "vin_chan": 512, "vout_chan": 512,
            "vconv_kernel_size": 3, "vn_repeats": 5, "fout_chan": 512,
            "encoder_activation": None}
    return {"model_name": "CTCNet", "state_dict": sd, "model_args": args,
            "infos": {"software_versions": {"torch_version": "1.13.1"}}}


def _assert_weights_equal(model: CTCNet, sd: dict) -> None:
    ours = model.separation_state_dict()
    for key, value in sd.items():
        assert torch.equal(ours[key], value), key


def test_load_checkpoint_formats(ref, tmp_path: Path) -> None:
    sd = ref["sd"]
    plain = tmp_path / "official_state_dict.pt"
    torch.save(sd, plain)
    release = tmp_path / "best_model.pth"
    torch.save(_official_release(sd), release)
    frontend_sd = load_fixture(FRONTEND_REF / "state_dict.pt")
    lightning = tmp_path / "epoch=1.ckpt"
    torch.save({"state_dict": {**{f"audio_model.{k}": v for k, v in sd.items()},
                               **{f"video_model.{k}": v for k, v in frontend_sd.items()}}},
               lightning)
    archive = tmp_path / "LRS2.zip"
    buffer = io.BytesIO()
    torch.save(_official_release(sd), buffer)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("LRS2/best_model.pth", buffer.getvalue())
        zf.writestr("LRS2/conf.yml", "audionet:\n  n_src: 1\n  fn_repeats: 13\n")

    for path in (plain, release, lightning, archive):
        model = CTCNet.load_checkpoint(path)
        assert not model.training
        _assert_weights_equal(model, sd)
    model = CTCNet.load_checkpoint(lightning)
    fe = model.lip_frontend.state_dict()
    assert all(torch.equal(fe[k], v) for k, v in frontend_sd.items())
    # through the public API (registry), with the front-end from its own file
    model = load_separator("ctcnet", checkpoint=release,
                           frontend_checkpoint=FRONTEND_REF / "state_dict.pt")
    _assert_weights_equal(model, sd)
    assert torch.equal(model.lip_frontend.state_dict()["frontend3D.0.weight"],
                       frontend_sd["frontend3D.0.weight"])


def test_load_checkpoint_reports_missing_unexpected_and_filterbank(ref, tmp_path: Path) -> None:
    sd = dict(ref["sd"])
    path = save_with_wrong_keys(sd, tmp_path / "broken.pt", missing="masker.pre_v.bias",
                                unexpected="masker.extra.weight")
    with pytest.raises(AvssError) as err:
        CTCNet.load_checkpoint(path)
    assert "masker.pre_v.bias" in str(err.value) and "masker.extra.weight" in str(err.value)

    one_filterbank = {k: v for k, v in sd.items() if k != "encoder.filterbank._filters"}
    torch.save(one_filterbank, path)
    _assert_weights_equal(CTCNet.load_checkpoint(path), sd)

    different = dict(sd)
    different["encoder.filterbank._filters"] = sd["encoder.filterbank._filters"] + 1
    torch.save(different, path)
    with pytest.raises(AvssError, match="filterbank"):
        CTCNet.load_checkpoint(path)

    with pytest.raises(AvssError, match="not found"):
        CTCNet.load_checkpoint(tmp_path / "nope.pt")


def test_our_checkpoint_roundtrip(tmp_path: Path) -> None:
    from avss_bench.models.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = CTCNet(**TINY)
    path = tmp_path / "ours.pt"
    save_checkpoint(model, path, separator="ctcnet")
    loaded = load_separator("ctcnet", checkpoint=path)
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# ---------------------------------------------------------------- conv_before_upsample option
def test_conv1x1_over_concat_equals_conv_of_concat() -> None:
    import torch.nn.functional as F

    from avss_models.ctcnet.blocks import conv1x1_over_concat

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(3 + 4 + 5 + 2, 6, 1).double()
    parts = [torch.randn(2, 3, 9), torch.randn(2, 4, 9), torch.randn(2, 5, 5),
             torch.randn(2, 2, 13)]  # full, full, upsampled, downsampled (both commute)
    parts = [p.double() for p in parts]
    resized = [F.interpolate(p, size=9, mode="nearest") for p in parts]
    expected = conv(torch.cat(resized, dim=1))
    assert torch.allclose(conv1x1_over_concat(conv, parts, 9), expected, rtol=0, atol=1e-12)
    one = [torch.randn(1, 3, 1).double(), torch.randn(1, 11, 1).double()]  # length-1 scales
    assert torch.allclose(conv1x1_over_concat(conv, one, 1), conv(torch.cat(one, 1)),
                          rtol=0, atol=1e-12)


def test_conv_before_upsample_same_output_fewer_macs(ref) -> None:
    from avss_bench.evaluate.profile import count_macs

    model = CTCNet(conv_before_upsample=True).load_official_state_dict(ref["sd"]).eval()
    with torch.inference_mode():
        out = model.separate(ref["inp"]["mix_1s"], ref["inp"]["emb_1s"])
    assert rel_err(out, ref["exp"]["out_1s_f32"][:, 0]) <= 1e-5
    macs, _, _, _ = count_macs(model, 2)
    assert 0.66 < macs / 166.767e9 < 0.68
    assert CTCNet(**model.config).config["conv_before_upsample"] is True


def test_split_official_keys_strips_wrappers_and_names_stray_keys(ref, tmp_path: Path) -> None:
    """DDP (`module.`) and torch.compile (`_orig_mod.`) wrappers around a Lightning checkpoint:
    the real weights land in the right part unchanged; a key of neither part is named."""
    from avss_bench.models import split_official_keys
    from avss_models.ctcnet.model import SEPARATOR_ROOTS

    frontend_sd = torch.load(FRONTEND_REF / "state_dict.pt", map_location="cpu",
                             weights_only=True)
    wrapped = {f"_orig_mod.module.audio_model.{k}": v for k, v in ref["sd"].items()}
    wrapped.update({f"module.video_model.{k}": v for k, v in frontend_sd.items()})
    separator, frontend = split_official_keys(wrapped, SEPARATOR_ROOTS, "CTCNet", "ckpt.pt")
    assert separator.keys() == ref["sd"].keys() and frontend.keys() == frontend_sd.keys()
    assert all(separator[k] is v for k, v in ref["sd"].items())
    path = tmp_path / "stray.pt"
    with pytest.raises(AvssError, match="stray.pt.*does not fit CTCNet.*optimizer.lr"):
        split_official_keys({**wrapped, "optimizer.lr": torch.zeros(1)}, SEPARATOR_ROOTS,
                            "CTCNet", path)
