"""RTFS-Net (R = 4, 6, 12): official key layout, parameter counts, parity with the official
code's outputs and intermediates, checkpoint formats, the Separator contract.

The fixtures are read from `../shared` (tests/shared_data.py); a missing fixture fails.
"""

from __future__ import annotations

import json

import pytest
import torch
from parity_helpers import (
    assert_matches_dump,
    assert_refused_in_one_line,
    dumped_names,
    load_fixture,
    load_reference,
    rel_err,
    run_in_dtype,
    save_with_wrong_keys,
)
from shared_data import SHARED

from avss_bench import AvssError
from avss_models.rtfsnet import RTFSNet
from avss_models.rtfsnet.model import config_from_official, count_parameters

REFERENCE = SHARED / "data" / "reference"
FOLDERS = {4: "rtfsnet4", 6: "rtfsnet6", 12: "rtfsnet12"}


@pytest.fixture(scope="module")
def ref():
    torch.set_num_threads(2)
    out = {r: load_reference(REFERENCE / name, inputs=False) for r, name in FOLDERS.items()}
    out["inp"] = load_fixture(REFERENCE / "rtfsnet4" / "inputs.pt")
    return out


@pytest.fixture(scope="module")
def models(ref):
    return {r: RTFSNet(repeats=r).load_official_state_dict(ref[r]["sd"]).eval()
            for r in FOLDERS}


def _run(model: RTFSNet, inp: dict, dur: str, dtype=torch.float32) -> torch.Tensor:
    return run_in_dtype(model, model.separate, inp[f"mix_{dur}"], inp[f"emb_{dur}"], dtype=dtype)


# ------------------------------------------------------------------ layout and counts
@pytest.mark.parametrize("repeats", list(FOLDERS))
def test_keys_shapes_and_parameter_counts(ref, models, repeats):
    params = ref[repeats]["params"]
    ours = models[repeats].separation_state_dict()
    assert list(ours) == list(params["state_dict"])
    assert {k: list(v.shape) for k, v in ours.items()} == {
        k: v["shape"] for k, v in params["state_dict"].items()}
    named = dict(models[repeats].named_modules())
    for path, count in params["modules"].items():
        module = models[repeats] if path == "(root)" else named[path]
        n = sum(p.numel() for name, p in module.named_parameters()
                if path != "(root)" or not name.startswith("lip_frontend."))
        assert n == count, path
    assert count_parameters(models[repeats])["separator"] == params["total_parameters"] == 740210
    assert count_parameters(models[repeats])["with_video_encoder"] == 740210 + 11186688


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("repeats", list(FOLDERS))
def test_float32_parity_1s(ref, models, repeats):
    y = _run(models[repeats], ref["inp"], "1s")
    assert y.shape == (1, 16000)
    assert rel_err(y, ref[repeats]["exp"]["out_1s_f32"][:, 0]) <= 1e-5


def test_float64_parity_1s_r4(ref, models):
    y = _run(models[4], ref["inp"], "1s", torch.float64)
    exp = ref[4]["exp"]
    assert y.dtype == torch.float64
    assert ((y - exp["out_1s_f64"][:, 0]).abs().max() / exp["out_1s_f32"].abs().max()) <= 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("repeats", list(FOLDERS))
def test_parity_2s_and_float64(ref, models, repeats):
    exp = ref[repeats]["exp"]
    y = _run(models[repeats], ref["inp"], "2s")
    assert y.shape == (1, 32000)
    assert rel_err(y, exp["out_2s_f32"][:, 0]) <= 1e-5
    for dur in ("1s", "2s"):
        y64 = _run(models[repeats], ref["inp"], dur, torch.float64)
        peak = exp[f"out_{dur}_f32"].abs().max()
        assert ((y64 - exp[f"out_{dur}_f64"][:, 0]).abs().max() / peak) <= 1e-10


def test_intermediates_1s_r4(ref, models):
    """Every hooked official tensor of the 1 s float32 run, on its index grid and its stats."""
    model = models[4]
    inter = load_fixture(REFERENCE / "rtfsnet4" / "intermediates.pt")
    got: dict[str, torch.Tensor] = {}
    calls = [0]

    def keep(name, use_input=False):
        def hook(_m, inputs, output):
            got[name] = inputs[0] if use_input else output
        return hook

    def audio_call(_m, _i, output):
        got[f"audio_block.call{calls[0]:02d}"] = output
        calls[0] += 1

    rm = model.refinement_module
    hooks = [model.encoder.conv.register_forward_hook(keep("stft_spec", True)),
             model.encoder.register_forward_hook(keep("encoder_out")),
             model.audio_bottleneck.register_forward_hook(keep("audio_bottleneck_out")),
             rm.audio_net.blocks.register_forward_hook(audio_call),
             rm.video_net.blocks.register_forward_hook(keep("video_block_out")),
             rm.crossmodal_fusion.register_forward_hook(keep("fusion_out_audio")),
             rm.register_forward_hook(keep("separator_out")),
             model.mask_generator.mask_generator[1].full_layer[2].register_forward_hook(
                 keep("mask_logits")),
             model.decoder.decoder.register_forward_hook(keep("decoder_spec"))]
    try:
        _run(model, ref["inp"], "1s")
    finally:
        for h in hooks:
            h.remove()
    names = dumped_names(inter, "f32_1s/")
    assert len(names) == 12 and names <= set(got)
    for name in sorted(names):
        assert_matches_dump(got[name], inter, f"f32_1s/{name}", tol=1e-5, rtol=1e-4, atol=1e-6)


def test_macs_equal_the_official_count_1s(ref, models):
    """FlopCounterMode MACs (flops / 2) of our separation network and lip front-end = the
    official counts in numbers.json (R = 4)."""
    from torch.utils.flop_counter import FlopCounterMode

    numbers = json.loads((REFERENCE / "rtfsnet4" / "numbers.json").read_text())
    model, inp = models[4], ref["inp"]
    counts = []
    with torch.no_grad():
        for fn, args in ((model.separate, (inp["mix_1s"], inp["emb_1s"])),
                         (model.lip_frontend, (inp["lip_1s"],))):
            counter = FlopCounterMode(display=False)
            with counter:
                fn(*args)
            counts.append(counter.get_total_flops() // 2)
    official = numbers["macs_flopcounter_1s"]
    assert counts == [official["separation_network"], official["video_encoder"]]


# ------------------------------------------------------------------ checkpoints
def test_load_checkpoint_formats(ref, tmp_path):
    sd = ref[4]["sd"]
    plain = tmp_path / "plain.pt"
    torch.save(sd, plain)
    assert RTFSNet.load_checkpoint(plain).config["repeats"] == 4
    # Lightning checkpoint of the official System (separator + lip front-end)
    frontend = RTFSNet().lip_frontend.state_dict()
    lightning = {"state_dict": {**{f"audio_model.{k}": v for k, v in sd.items()},
                                **{f"video_model.{k}": v for k, v in frontend.items()}}}
    path = tmp_path / "epoch=1.ckpt"
    torch.save(lightning, path)
    m = RTFSNet.load_checkpoint(path, official_config={"audionet": ref[12]["params"][
        "constructor_args"]})
    assert m.config["repeats"] == 12 and not m.training
    # release file: repeats from model_args
    args = ref[6]["params"]["constructor_args"]
    release = {"model_name": "AVNet", "state_dict": sd,
               "model_args": {"refinement_module": {k: args[k] for k in
                                                    ("audio_params", "video_params",
                                                     "fusion_params")},
                              "encoder": {"win": 256, "hop_length": 128, "out_chan": 256}}}
    path = tmp_path / "best_model.pth"
    torch.save(release, path)
    assert RTFSNet.load_checkpoint(path).config["repeats"] == 6


def test_loader_errors_are_one_line(ref, tmp_path):
    path = save_with_wrong_keys(ref[4]["sd"], tmp_path / "broken.pt",
                                missing="decoder.decoder.weight")
    assert_refused_in_one_line(RTFSNet.load_checkpoint, path, "extra.weight")
    sd = dict(ref[4]["sd"])
    sd.pop("decoder.decoder.weight")
    torch.save(sd, path)
    with pytest.raises(AvssError, match="missing"):
        RTFSNet.load_checkpoint(path)
    with pytest.raises(AvssError, match="not found"):
        RTFSNet.load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(AvssError):
        RTFSNet.load_checkpoint(tmp_path / "junk.pt")


def test_config_from_official_and_pre_a4cd736_checkpoints(ref):
    args = ref[12]["params"]["constructor_args"]
    conf = config_from_official(args)
    assert conf["repeats"] == 12 and conf["video_chan"] == 512 and conf["win"] == 256
    with pytest.raises(AvssError, match="n_src"):
        config_from_official({**args, "n_src": 2})
    old = {k: v for k, v in ref[4]["sd"].items()
           if not k.startswith("refinement_module.audio_net.blocks.projection.full_layer.")
           or ".full_layer.2." in k}
    model = RTFSNet.load_checkpoint(old)
    assert model.config["projection_norm"] is False


# ------------------------------------------------------------------ contract
def test_config_rebuilds_and_forward_contract(ref, models):
    model = models[4]
    clone = RTFSNet(**model.config)
    assert clone.config == model.config
    assert isinstance(model.lip_frontend, torch.nn.Module)
    assert not any(p.requires_grad for p in model.lip_frontend.parameters())
    lips = torch.randn(2, 1, 9, 88, 88)
    with torch.no_grad():
        y = model(torch.randn(2, 5000), lips)
    assert y.shape == (2, 5000)
    with pytest.raises(ValueError):
        model(torch.randn(1, 5000), None)
    with pytest.raises(ValueError, match="too short"):
        model.separate(torch.randn(1, 1000), torch.randn(1, 512, 2))


def test_training_step_gradients(ref):
    model = RTFSNet(repeats=2).load_official_state_dict(ref[4]["sd"]).train()
    est = model(torch.randn(2, 4000), torch.randn(2, 1, 7, 88, 88))
    est.pow(2).mean().backward()
    assert model.encoder.conv.full_layer[2].weight.grad.abs().sum() > 0
    rnn = model.refinement_module.audio_net.blocks.globalatt[0].rnn.rnn_lst[0]
    assert rnn.weight_c.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.lip_frontend.parameters())
    assert not any(m.training for m in model.lip_frontend.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
