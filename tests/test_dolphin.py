"""Dolphin: official key layout, parameter counts, parity with the official code's outputs,
VQ codes and intermediates, checkpoint formats (hub files, safetensors), Separator contract.

The fixtures are read from `../shared` (tests/shared_data.py); a missing fixture fails.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from parity_helpers import (
    assert_matches_dump,
    assert_refused_in_one_line,
    dumped_names,
    load_fixture,
    reference_fixture,
    rel_err,
    run_in_dtype,
    save_with_wrong_keys,
)
from shared_data import SHARED

from avss_bench import AvssError
from avss_models.dolphin import Dolphin
from avss_models.dolphin.model import (
    DEFAULT_CONFIG,
    count_parameters,
    lips_from_uint8,
    read_safetensors,
)

REF = SHARED / "data" / "reference" / "dolphin"
F32_TOL = 1e-4      # the official code's own float32-vs-float64 error is 1.4e-5 of the peak
F64_TOL = 1e-10


ref = reference_fixture(REF)


@pytest.fixture(scope="module")
def model(ref):
    return Dolphin().load_official_state_dict(ref["sd"]).eval()


def _run(model: Dolphin, inp: dict, dur: str, dtype=torch.float32) -> torch.Tensor:
    return run_in_dtype(model, model, inp[f"mix_{dur}"], inp[f"lip_{dur}"], dtype=dtype)


# ------------------------------------------------------------------ layout and counts
def test_keys_shapes_and_parameter_counts(ref, model):
    params = ref["params"]
    ours = model.state_dict()
    assert list(ours) == list(params["state_dict"])
    assert {k: list(v.shape) for k, v in ours.items()} == {
        k: v["shape"] for k, v in params["state_dict"].items()}
    named = dict(model.named_modules())
    for path, count in params["modules"].items():
        module = model if path == "(root)" else named[path]
        assert sum(p.numel() for p in module.parameters()) == count, path
    counts = count_parameters(model)
    assert counts == {"separator": 6218630, "video_encoder": 781818,
                      "with_video_encoder": 7000448}
    assert Dolphin(**model.config).config == model.config
    assert params["constructor_args"] == {k: v for k, v in DEFAULT_CONFIG.items()}


def test_lip_pipeline_matches_the_fixture_inputs(ref):
    inp = ref["inp"]
    assert torch.equal(lips_from_uint8(inp["lip_2s_uint8_96"]), inp["lip_2s"])


# ------------------------------------------------------------------ parity
def test_float32_parity_codes_and_intermediates_1s(ref, model):
    """One 1 s float32 forward: output, VQ codes (exactly), every hooked official tensor."""
    inter = load_fixture(REF / "intermediates.pt")
    got: dict[str, torch.Tensor] = {}

    def keep(name, pick=None, use_input=False):
        def hook(_m, inputs, output):
            value = inputs[0] if use_input else output
            got[name] = pick(value) if pick else value
        return hook

    sem = model.video_encoder.semantic_model
    sep = model.separator
    hooks = [sem.quantizer.register_forward_hook(keep("semantic_z_e", use_input=True)),
             sem.quantizer.project_in.register_forward_hook(keep("semantic_proj_in")),
             sem.quantizer.register_forward_hook(keep("video_codes", lambda o: o[1])),
             sem.register_forward_hook(keep("semantic_out")),
             model.video_encoder.register_forward_hook(keep("video_encoder_out")),
             model.pre_v1.register_forward_hook(keep("pre_v1_out")),
             model.video_blocks.register_forward_hook(keep("video_blocks_out")),
             model.audio_encoder.register_forward_hook(keep("encoder_out")),
             model.feature_projector.register_forward_hook(keep("feature_projector_out")),
             model.modalfuse.register_forward_hook(keep("fusion_out")),
             sep.bottleneck_G[1].register_forward_hook(keep("bottleneck_global")),
             sep.register_forward_hook(keep("separator_out")),
             model.out_layer.register_forward_hook(keep("out_layer_out"))]
    for k, stage in enumerate(sep.enc_stages):
        hooks.append(stage.register_forward_hook(keep(f"enc_stage{k}_out", lambda o: o[0])))
        hooks.append(stage.register_forward_hook(keep(f"enc_stage{k}_skip", lambda o: o[1])))
    for k, stage in enumerate(sep.dec_stages):
        hooks.append(stage.register_forward_hook(keep(f"dec_stage{k}_out")))
    try:
        y = _run(model, ref["inp"], "1s")
    finally:
        for h in hooks:
            h.remove()
    assert y.shape == (1, 16000)
    err = rel_err(y, ref["exp"]["out_1s_f32"][:, 0])
    assert err <= F32_TOL, err
    assert torch.equal(got["video_codes"], inter["f32_1s/video_codes"])
    names = dumped_names(inter, "f32_1s/")
    assert len(names) == 25 and names <= set(got)
    for name in sorted(names - {"video_codes"}):
        assert_matches_dump(got[name], inter, f"f32_1s/{name}", tol=1e-4, rtol=1e-3, atol=1e-5)


def test_float64_parity_1s(ref, model):
    y = _run(model, ref["inp"], "1s", torch.float64)
    exp = ref["exp"]
    assert y.dtype == torch.float64
    err = ((y - exp["out_1s_f64"][:, 0]).abs().max() / exp["out_1s_f32"].abs().max()).item()
    assert err <= F64_TOL, err


@pytest.mark.slow
def test_parity_2s_float32_and_float64(ref, model):
    exp = ref["exp"]
    with torch.no_grad():
        codes = model.video_encoder.codes(ref["inp"]["lip_2s"])
    assert torch.equal(codes, load_fixture(REF / "intermediates.pt")["f32_2s/video_codes"])
    y = _run(model, ref["inp"], "2s")
    assert y.shape == (1, 32000)
    assert rel_err(y, exp["out_2s_f32"][:, 0]) <= F32_TOL
    y64 = _run(model, ref["inp"], "2s", torch.float64)
    assert ((y64 - exp["out_2s_f64"][:, 0]).abs().max() / exp["out_2s_f32"].abs().max()
            ) <= F64_TOL


def test_macs_equal_the_official_count_1s(ref, model):
    """FlopCounterMode MACs (flops / 2) of our forward = numbers.json's official count."""
    from torch.utils.flop_counter import FlopCounterMode

    numbers = json.loads((REF / "numbers.json").read_text())["macs_flopcounter_1s"]
    inp = ref["inp"]
    counts = []
    with torch.no_grad():
        for fn, args in ((model.video_encoder, (inp["lip_1s"],)), (model, (inp["mix_1s"],
                                                                           inp["lip_1s"]))):
            counter = FlopCounterMode(display=False)
            with counter:
                fn(*args)
            counts.append(counter.get_total_flops() // 2)
    assert counts == [numbers["video_encoder_alone"], numbers["total"]]


# ------------------------------------------------------------------ checkpoints
def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    names = {torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def test_hub_folder_safetensors_and_torch_formats(ref, tmp_path):
    sd = ref["sd"]
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**DEFAULT_CONFIG, "model_type": "dolphin"}))
    _write_safetensors(folder / "model.safetensors",
                       {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")})
    back = read_safetensors(folder / "model.safetensors")
    assert all(torch.equal(back[k], sd[k]) for k in back)
    m = Dolphin.load_checkpoint(folder)
    assert not m.training and m.config == Dolphin().config
    for k, v in m.state_dict().items():
        assert torch.equal(v, sd[k]) or k.endswith("num_batches_tracked"), k
    lightning = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": {f"audio_model.{k}": v for k, v in sd.items()}}, lightning)
    assert isinstance(Dolphin.load_checkpoint(lightning, config=DEFAULT_CONFIG), Dolphin)


def test_video_encoder_exports_for_the_compiled_path(ref, model):
    """The compiled default path (`avss_bench.models.inference`) exports each stage with
    `torch.export`: the codebook's initialised check stays out of the trace, so the video
    encoder exports, and the exported graph gives the eager output exactly."""
    lips = ref["inp"]["lip_1s"]
    with torch.no_grad():
        program = torch.export.export(model.lip_frontend, (lips,))
    with torch.inference_mode():
        assert torch.equal(program.module()(lips), model.lip_frontend(lips))


def test_loader_errors_are_one_line(ref, tmp_path):
    path = save_with_wrong_keys(ref["sd"], tmp_path / "broken.pt", missing="audio_decoder.weight")
    assert_refused_in_one_line(Dolphin.load_checkpoint, path, "extra.weight",
                               "audio_decoder.weight")
    fresh = Dolphin().state_dict()   # initted = 0: an untrained codebook is refused
    torch.save(fresh, path)
    with pytest.raises(AvssError, match="not initialised"):
        Dolphin.load_checkpoint(path)
    with pytest.raises(AvssError, match="not found"):
        Dolphin.load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"\x01")
    with pytest.raises(AvssError, match="safetensors"):
        Dolphin.load_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(AvssError, match="unknown Dolphin config"):
        Dolphin.load_checkpoint(ref["sd"], config={"num_stages": 4, "bogus": 1})


# ------------------------------------------------------------------ contract
def test_forward_contract_and_fixed_quirk_option(ref, model):
    assert model.lip_frontend is model.video_encoder
    mix, lips = torch.randn(2, 3999), torch.randn(2, 1, 7, 88, 88)
    with torch.no_grad():
        y = model(mix, lips)
    assert y.shape == (2, 3999) and torch.all(y[:, -3:] == 0)
    with pytest.raises(ValueError):
        model(mix, None)
    fixed = Dolphin(fix_video_fusion_index=True).load_official_state_dict(ref["sd"]).eval()
    with torch.no_grad():
        v = torch.randn(1, 64, 7)
        assert not torch.allclose(fixed.video_blocks(v), model.video_blocks(v))


def test_training_step_gradients(ref):
    """A train-mode step: gradients reach the audio path, the video adapter and the
    reconstruction path; the semantic path only acts through its (discrete) codes."""
    model = Dolphin().load_official_state_dict(ref["sd"]).train()
    mix, lips = torch.randn(2, 2000), torch.randn(2, 1, 9, 88, 88)
    model(mix, lips).pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["audio_encoder.conv1d.weight"].abs().sum() > 0
    assert grads["video_encoder.recon_model.conv_in.weight"].abs().sum() > 0
    assert grads["video_encoder.semantic_model.quantizer.project_out.weight"] is not None
    assert grads["video_encoder.semantic_model.conv_in.weight"] is None


def test_training_starts_from_the_released_video_encoder(ref, tmp_path: Path) -> None:
    """A recipe's frontend_checkpoint for Dolphin fills DP-LipCoder (trained codebook) and
    nothing else; a file without encoder weights is a one-line error."""
    from avss_bench.models.registry import build_separator
    from avss_bench.train.config import load_config
    from avss_bench.train.loop import load_frontend

    released = tmp_path / "model.pt"
    torch.save(ref["sd"], released)
    config = load_config(None, ["model.name=dolphin", f"model.frontend_checkpoint={released}"])
    fresh = build_separator(config.model.name, **config.model.config)
    separator_before = {k: v.clone() for k, v in fresh.state_dict().items()
                        if not k.startswith("video_encoder.")}
    load_frontend(fresh, config)
    for key, value in fresh.video_encoder.state_dict().items():
        assert torch.equal(value, ref["sd"][f"video_encoder.{key}"]), key
    for key, value in separator_before.items():
        assert torch.equal(fresh.state_dict()[key], value), key
    no_encoder = tmp_path / "separator_only.pt"
    torch.save({k: v for k, v in ref["sd"].items() if not k.startswith("video_encoder.")},
               no_encoder)
    with pytest.raises(AvssError, match="no video_encoder"):
        fresh.load_visual_encoder(no_encoder)
