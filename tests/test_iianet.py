"""IIANet / IIANet-fast: official key layout, parameter counts, parity, loaders, contract."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from shared_data import SHARED

from avss_bench import AvssError, load_separator
from avss_models.iianet.model import IIANet, IIANetFast
from avss_models.iianet.official import split_official_state_dict

REF = SHARED / "data" / "reference"


def _load(folder: str, name: str):
    return torch.load(REF / folder / name, map_location="cpu", weights_only=True)


def _quiet_load(cls, source, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no lip front-end weights"
        return cls.load_checkpoint(source, **config)


def _rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def ref16():
    return {"sd": _load("iianet16", "state_dict.pt"), "inp": _load("iianet16", "inputs.pt"),
            "exp": _load("iianet16", "expected.pt"),
            "params": json.loads((REF / "iianet16" / "params.json").read_text())}


# ----------------------------------------------------------------------------- layout
def test_state_dict_keys_shapes_and_order_are_official(ref16) -> None:
    model = IIANet()
    ours = model.separation_state_dict()
    official = ref16["params"]["state_dict"]
    assert list(ours) == list(official)
    for key, meta in official.items():
        assert list(ours[key].shape) == meta["shape"], key
    assert all(k.startswith("lip_frontend.") for k in model.state_dict() if k not in ours)


@pytest.mark.parametrize("cls", [IIANet, IIANetFast])
def test_parameter_counts_per_module(ref16, cls) -> None:
    model = cls()
    modules = dict(model.named_modules())
    for path, count in ref16["params"]["modules"].items():
        if path == "(root)":
            got = sum(p.numel() for n, p in model.named_parameters()
                      if not n.startswith("lip_frontend."))
        else:
            got = sum(p.numel() for p in modules[path].parameters())
        assert got == count, path
    assert sum(p.numel() for p in model.lip_frontend.parameters()) == 11_186_688
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 3_036_670  # the front-end is frozen by default


def test_config_round_trip() -> None:
    for model in (IIANet(), IIANetFast(), IIANetFast(num_blocks=5, frontend_frozen_bn=True)):
        rebuilt = type(model)(**model.config)
        assert rebuilt.config == model.config
        assert list(rebuilt.state_dict()) == list(model.state_dict())
        json.dumps(model.config)  # plain data, storable in checkpoints
    assert IIANetFast().config["num_blocks"] == 10
    assert IIANet().config["num_blocks"] == 16


# ----------------------------------------------------------------------------- parity
def _hooked_forward(model: IIANet, mix: torch.Tensor, emb: torch.Tensor):
    """Forward with hooks that record the reference's named intermediates."""
    record: dict[str, torch.Tensor] = {}
    calls = {"a_td": 0, "v_td": 0, "interat": 0}
    handles = []

    def put(name):
        return lambda _m, _i, out: record.__setitem__(name, out)

    handles.append(model.encoder.register_forward_hook(put("encoder_out")))
    handles.append(model.bottleneck.register_forward_hook(put("bottleneck_out")))
    handles.append(model.pre_v.register_forward_hook(put("pre_v_out")))
    handles.append(model.sm.register_forward_hook(put("separator_out")))
    handles.append(model.mask_net.register_forward_hook(put("mask_logits")))

    def a_td(_m, _i, out):
        record[f"cycle{calls['a_td']:02d}.audio_out"] = out
        calls["a_td"] += 1

    def v_td(_m, _i, out):
        if out[0] is not None:
            record[f"cycle{calls['v_td']:02d}.video_out"] = out[0]
        calls["v_td"] += 1

    def interat(_m, inputs, out):
        if inputs[1] is not None:
            k = calls["interat"]
            record[f"cycle{k:02d}.interAT_in_audio"] = inputs[0]
            record[f"cycle{k:02d}.interAT_in_video"] = inputs[1]
            record[f"cycle{k:02d}.interAT_out_audio"] = out[0]
            record[f"cycle{k:02d}.interAT_out_video"] = out[1]
        calls["interat"] += 1

    handles.append(model.sm.audio_blocks[1].register_forward_hook(a_td))
    handles.append(model.sm.video_blocks[1].register_forward_hook(v_td))
    handles.append(model.sm.InterA_T.register_forward_hook(interat))
    try:
        with torch.no_grad():
            out = model.separate(mix, emb)
    finally:
        for handle in handles:
            handle.remove()
    return out, record


def test_iianet16_parity_float32_with_intermediates(ref16) -> None:
    model = _quiet_load(IIANet, ref16["sd"])
    inp, exp = ref16["inp"], ref16["exp"]
    inter = _load("iianet16", "intermediates.pt")
    out, record = _hooked_forward(model, inp["mix_1s"].clone(), inp["emb_1s"].clone())
    ref = exp["out_1s_f32"]
    assert out.shape == (1, 16000)
    assert _rel_err(out, ref[:, 0]) <= 1e-5
    compared = 0
    for name, full in record.items():
        key = f"f32_1s/{name}"
        if key not in inter:
            continue
        assert list(full.shape) == inter[f"{key}.shape"].tolist(), name
        v = full
        for d in range(v.ndim):
            v = v.index_select(d, inter[f"{key}.idx{d}"])
        scale = max(abs(inter[f"{key}.stats"][2].item()), abs(inter[f"{key}.stats"][3].item()))
        assert (v - inter[key]).abs().max().item() <= 1e-5 * scale, name
        compared += 1
    assert compared >= 40  # every reference intermediate except the unused last video output


@pytest.mark.slow
def test_iianet16_parity_float32_2s(ref16) -> None:
    model = _quiet_load(IIANet, ref16["sd"])
    with torch.no_grad():
        out = model.separate(ref16["inp"]["mix_2s"].clone(), ref16["inp"]["emb_2s"].clone())
    assert out.shape == (1, 32000)
    assert _rel_err(out, ref16["exp"]["out_2s_f32"][:, 0]) <= 1e-5


@pytest.mark.slow
def test_iianet16_parity_float64(ref16) -> None:
    model = _quiet_load(IIANet, ref16["sd"]).double()
    with torch.no_grad():
        out = model.separate(ref16["inp"]["mix_1s"].double(), ref16["inp"]["emb_1s"].double())
    assert out.dtype == torch.float64
    assert _rel_err(out, ref16["exp"]["out_1s_f64"][:, 0]) <= 1e-10


@pytest.mark.parametrize(("num_blocks", "length"), [(10, "1s"), (5, "2s")])
def test_fast_variants_parity(num_blocks: int, length: str) -> None:
    folder = f"iianet{num_blocks}"
    sd, inp, exp = _load(folder, "state_dict.pt"), _load(folder, "inputs.pt"), _load(
        folder, "expected.pt")
    model = _quiet_load(IIANetFast, sd, num_blocks=num_blocks)
    assert model.config["num_blocks"] == num_blocks
    with torch.no_grad():
        out = model.separate(inp[f"mix_{length}"].clone(), inp[f"emb_{length}"].clone())
        assert _rel_err(out, exp[f"out_{length}_f32"][:, 0]) <= 1e-5
        if num_blocks == 5:  # float64 (slow on CPU): the shortest schedule is enough here
            model.double()
            out64 = model.separate(inp["mix_1s"].double(), inp["emb_1s"].double())
            assert _rel_err(out64, exp["out_1s_f64"][:, 0]) <= 1e-10


def test_full_path_with_lip_frontend_through_registry(ref16, tmp_path: Path) -> None:
    sep_path, fe_path = tmp_path / "iianet.pt", tmp_path / "frontend.pt"
    torch.save(ref16["sd"], sep_path)
    torch.save(_load("lipfrontend", "state_dict.pt"), fe_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = load_separator("iianet-fast", checkpoint=sep_path, frontend_checkpoint=fe_path,
                               num_blocks=5)
    assert isinstance(getattr(model, "eager", model), IIANetFast) and not model.training
    assert all(not p.requires_grad for p in model.lip_frontend.parameters())
    inp = ref16["inp"]
    with torch.no_grad():
        out = model(inp["mix_1s"].clone(), inp["lip_1s"].clone())
    assert out.shape == (1, 16000)
    # The official chain: official front-end output -> official IIANet (5 cycles).
    assert _rel_err(out, _load("iianet5", "expected.pt")["out_1s_f32"][:, 0]) <= 1e-4


# ----------------------------------------------------------------------------- loaders
def test_lightning_and_legacy_layouts(ref16, tmp_path: Path) -> None:
    sd = dict(ref16["sd"])
    fe = _load("lipfrontend", "state_dict.pt")
    legacy = {("audio_model." + k).replace("InterA_T", "mlp_avfusion")
              .replace("InterA_B_A", "concat_block").replace("InterA_B_V", "video_concat"): v
              for k, v in sd.items()}
    ckpt = {"state_dict": {**legacy, **{f"video_model.{k}": v for k, v in fe.items()}},
            "epoch": 3, "training_config": {"audionet": {"audionet_config": {
                "num_blocks": 12, "upsampling_depth": 5, "num_sources": 1}}}}
    path = tmp_path / "epoch=3.ckpt"
    torch.save(ckpt, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # front-end present: no warning
        model = IIANet.load_checkpoint(path)
    assert model.config["num_blocks"] == 12
    for key, value in sd.items():
        assert torch.equal(model.state_dict()[key], value), key
    for key, value in fe.items():
        assert torch.equal(model.state_dict()[f"lip_frontend.{key}"], value), key
    fast = IIANetFast.load_checkpoint(path)
    assert fast.config["num_blocks"] == 10  # the fast variant keeps its own cycle count


def test_release_zip(ref16, tmp_path: Path) -> None:
    conf = {"audionet": {"audionet_name": "IIANet", "audionet_config": {
        "out_channels": 128, "in_channels": 512, "vpre_channels": 512, "vin_channels": 64,
        "vout_channels": 64, "num_blocks": 16, "upsampling_depth": 5, "enc_kernel_size": 1,
        "num_sources": 1}},
        "datamodule": {"data_config": {"sample_rate": 16000}}}
    buffer = io.BytesIO()
    torch.save({"model_name": "IIANet", "state_dict": ref16["sd"],
                "model_args": conf["audionet"]["audionet_config"], "infos": []}, buffer)
    path = tmp_path / "lrs2.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("lrs2/best_model.pth", buffer.getvalue())
        archive.writestr("lrs2/conf.yml", yaml.safe_dump(conf))
    with pytest.raises(AvssError, match="no lip front-end weights"):
        load_separator("iianet", checkpoint=path)
    model = load_separator("iianet", checkpoint=path, random_frontend=True)
    assert model.frontend_loaded is False
    assert model.config["num_blocks"] == 16 and not model.training
    for key, value in ref16["sd"].items():
        assert torch.equal(model.state_dict()[key], value), key


def test_missing_and_unexpected_keys_are_errors(ref16) -> None:
    sd = dict(ref16["sd"])
    partial = {k: v for k, v in sd.items() if not k.startswith("sm.InterA_T.amlp")}
    with pytest.raises(AvssError, match=r"missing .*sm\.InterA_T\.amlp"):
        _quiet_load(IIANet, partial)
    extra = {**sd, "sm.bogus.weight": torch.zeros(1)}
    with pytest.raises(AvssError, match=r"unexpected .*sm\.bogus\.weight"):
        _quiet_load(IIANet, extra)
    with pytest.raises(AvssError, match="wrongly shaped"):
        _quiet_load(IIANet, sd, num_sources=2)
    broken_fe = {**sd, "lip_frontend.frontend3D.0.weight": torch.zeros(64, 1, 5, 7, 7)}
    with pytest.raises(AvssError, match="missing"):
        _quiet_load(IIANet, broken_fe)


def test_split_official_state_dict_routes_keys(ref16) -> None:
    sep, fe = split_official_state_dict({"module.audio_model.encoder.weight": torch.zeros(1),
                                         "video_model.trunk.layer1.0.conv1.weight": torch.ones(1),
                                         "frontend3D.1.bias": torch.ones(2)})
    assert list(sep) == ["encoder.weight"]
    assert sorted(fe) == ["frontend3D.1.bias", "trunk.layer1.0.conv1.weight"]


def test_our_checkpoint_round_trip(tmp_path: Path) -> None:
    from avss_bench.models.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = IIANetFast(num_blocks=3)
    path = tmp_path / "ours.pt"
    save_checkpoint(model, path, "iianet-fast")
    loaded = load_separator("iianet-fast", checkpoint=path)
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# ----------------------------------------------------------------------------- contract
def test_contract_shapes_batch_and_training_step() -> None:
    torch.manual_seed(0)
    model = IIANetFast(num_blocks=3).eval()
    mix = torch.randn(2, 4003) * 0.1  # arbitrary length (not a multiple of the hop)
    lips = torch.randn(2, 1, 7, 88, 88)
    with torch.no_grad():
        both = model(mix, lips)
        one = model(mix[1:], lips[1:])
    assert both.shape == (2, 4003)
    assert torch.allclose(both[1:], one, atol=1e-5 * one.abs().max().item())
    with pytest.raises(ValueError):
        model(mix, None)

    model.train()
    out = model(mix[:1], lips[:1])
    out.pow(2).mean().backward()
    assert all(p.grad is None for p in model.lip_frontend.parameters())
    assert model.sm.InterA_T.amlp.attn.conv.weight.grad is not None
    assert model.pre_v.weight.grad is not None
