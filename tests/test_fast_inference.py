"""The fast CPU inference path (`avss_bench.models.inference`): compiled graphs equal the eager
model within 1e-5 (relative to the output's peak) on the parity fixtures' real inputs, are
cached and reused, are verified before use, and stay out of training, autograd and counting."""

from __future__ import annotations

import pytest
import torch
from parity_helpers import load_fixture, rel_err
from shared_data import SHARED_DATA
from torch import nn

import avss_bench.models.inference as inference
from avss_bench.evaluate.profile import profile_model
from avss_bench.models.inference import FastSeparator, eager_model
from avss_bench.models.registry import load_separator
from avss_models.ctcnet.model import CTCNet
from avss_models.iianet.model import IIANet

REFERENCE = SHARED_DATA / "reference"
TOLERANCE = 1e-5


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "compiled"


def inputs() -> dict:
    return load_fixture(REFERENCE / "iianet5" / "inputs.pt")


def small_iianet() -> IIANet:
    """IIANet's real classes at reduced width and depth (random weights, fixed seed)."""
    torch.manual_seed(0)
    return IIANet(out_channels=16, in_channels=32, vin_channels=16, vout_channels=16,
                  num_blocks=2, av_cycles=1, upsampling_depth=3).eval()


class Toy(nn.Module):
    """A separator without `separate`: compiled as one `forward` graph."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 16, stride=4, padding=6)
        self.back = nn.ConvTranspose1d(8, 1, 16, stride=4, padding=6)
        self.config = {"width": 8}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None) -> torch.Tensor:
        gate = torch.sigmoid(lips.mean(dim=(1, 3, 4))).mean(dim=1, keepdim=True)
        y = self.back(torch.relu(self.conv(mixture.unsqueeze(1))) * gate.unsqueeze(-1))
        return y[:, 0, :mixture.shape[-1]]


def test_traced_code_paths_equal_eager_on_the_fixtures(monkeypatch) -> None:
    """What the compiler traces (depthwise convs as fused shifted sums; CTCNet with its 1x1
    convs before the upsamplings) is the eager function within 1e-5, on the official weights
    and the real LRS2 inputs: run eagerly with tracing switched on."""
    data = load_fixture(REFERENCE / "ctcnet" / "inputs.pt")
    mix, emb = data["mix_1s"], data["emb_1s"]
    iianet = IIANet.load_checkpoint(REFERENCE / "iianet5" / "state_dict.pt").eval()
    ctcnet = CTCNet.load_checkpoint(REFERENCE / "ctcnet" / "state_dict.pt").eval()
    with torch.inference_mode():
        eager = {"iianet": iianet.separate(mix, emb), "ctcnet": ctcnet.separate(mix, emb)}
        variant = ctcnet.inference_variant()
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        traced = {"iianet": iianet.separate(mix, emb), "ctcnet": variant.separate(mix, emb)}
    assert not ctcnet.masker.audio_block.conv_before_upsample  # the eager model is unchanged
    assert variant.masker.audio_block.conv_before_upsample
    for name, y in traced.items():
        assert 0 < rel_err(y, eager[name]) <= TOLERANCE, name


def test_iianet_repeat_counts_traced_as_constants_equal_pytorchs_rule() -> None:
    """The counts a compiled IIANet graph holds as constants (computed in numpy while tracing)
    are those of PyTorch's nearest-neighbour index rule, at every ratio IIANet meets."""
    from avss_models.iianet.blocks import _count_repeats, _count_repeats_numpy

    for dst in [*range(1, 300), 501, 1002, 2003, 4005, 8010, 16010, 31999]:
        for src in {max(1, -(-dst // 2 ** k)) for k in range(6)} | {1, 7, max(1, dst // 3)}:
            expected = _count_repeats(src, dst).numpy()
            assert (_count_repeats_numpy(src, dst) == expected).all(), (src, dst)


@pytest.mark.slow
def test_compiled_real_model_matches_eager_is_cached_and_reloaded(cache) -> None:
    data = inputs()
    mix, emb = data["mix_1s"], data["emb_1s"]
    model = small_iianet()
    fast = FastSeparator(model, "now")
    with torch.inference_mode():
        reference = model.separate(mix, emb)
        out = fast.separate(mix, emb)
    assert rel_err(out, reference) <= TOLERANCE
    assert fast.stats["separate_compile_s"] > 0 and len(list(cache.glob("*.pt2"))) == 1
    again = FastSeparator(model, "cached")  # a later process: loads, never compiles
    with torch.inference_mode():
        assert torch.equal(again.separate(mix, emb), out)
    assert again.stats["separate_load_s"] > 0 and "separate_compile_s" not in again.stats
    with torch.no_grad():  # other weights: other graphs (none cached: eager)
        model.bottleneck.bias.add_(0.1)
    with torch.inference_mode():
        assert torch.equal(again.separate(mix, emb), model.separate(mix, emb))
    assert again.stats["separate_eager_calls"] == 1


@pytest.mark.slow
def test_a_graph_that_fails_verification_is_remembered(cache, monkeypatch) -> None:
    data = inputs()
    mix, lips = data["mix_1s"], data["lip_1s"]
    monkeypatch.setattr(inference, "REL_TOLERANCE", -1.0)  # nothing passes
    model = Toy().eval()
    fast = FastSeparator(model, "now")
    with torch.inference_mode():
        assert torch.equal(fast(mix, lips), model(mix, lips))  # eager after the refusal
    assert fast.stats["forward_compile_s"] > 0
    assert len(list(cache.glob("*.failed.json"))) == 1 and not list(cache.glob("*.pt2"))
    later = FastSeparator(model, "now")
    with torch.inference_mode():
        later(mix, lips)
    assert "forward_compile_s" not in later.stats and later.stats["forward_eager_calls"] == 1


def test_training_autograd_and_auto_mode_stay_eager(cache) -> None:
    data = inputs()
    mix, lips = data["mix_1s"], data["lip_1s"]
    model = Toy()
    fast = FastSeparator(model, "now")
    assert fast.training  # follows the model it wraps
    out = fast(mix, lips)  # train mode, autograd on: the eager model, gradients flow
    out.pow(2).mean().backward()
    assert model.conv.weight.grad is not None
    fast.eval()
    assert not model.training
    auto = FastSeparator(model, "auto")  # nothing cached, under COMPILE_AFTER_S: eager
    with torch.inference_mode():
        assert torch.equal(auto(mix, lips), model(mix, lips))
    assert auto.stats["forward_eager_calls"] == 1
    wide = Toy().double().eval()
    with torch.inference_mode():  # not float32: never compiled, even in `now` mode
        args = (mix.double(), lips.double())
        assert torch.equal(FastSeparator(wide, "now")(*args), wide(*args))
    assert not cache.exists()
    iianet = small_iianet()  # two stages: separate(mixture, lip_frontend(lips))
    staged = FastSeparator(iianet, "cached")
    with torch.inference_mode():
        assert torch.equal(staged(mix, lips), iianet(mix, lips))
    assert staged.stats["frontend_eager_calls"] == staged.stats["separate_eager_calls"] == 1


def test_auto_mode_compiles_only_shapes_that_cost_enough_eager_time(cache, monkeypatch) -> None:
    data = inputs()
    mix, lips = data["mix_1s"], data["lip_1s"]
    asked = []
    monkeypatch.setattr(FastSeparator, "_compile", lambda self, stage, args: asked.append(
        (stage, tuple(a.shape[-1] for a in args))))
    monkeypatch.setattr(inference, "COMPILE_AFTER_S", 1e-9)
    monkeypatch.setattr(inference, "MIN_CALL_S", 1e9)  # calls too quick to gain: never
    fast = FastSeparator(Toy().eval(), "auto")
    with torch.inference_mode():
        for _ in range(3):
            fast(mix, lips)
    assert not asked
    monkeypatch.setattr(inference, "MIN_CALL_S", 0.0)
    with torch.inference_mode():
        fast(mix, lips)                   # the shape has cost enough: compiled (here: asked)
        fast(mix[:, :8000], lips[:, :, :13])  # a new shape starts from zero eager time
    assert asked == [("forward", (16000, 88))]


def test_load_separator_wraps_by_default_and_the_eager_model_stays_reachable(
        monkeypatch) -> None:
    fast = load_separator("tiny-av")
    assert isinstance(fast, FastSeparator) and not fast.training
    plain = eager_model(fast)
    assert fast.eager is plain and fast.config == plain.config
    assert fast.lip_frontend is plain.lip_frontend
    assert list(fast.state_dict()) == list(plain.state_dict())
    assert sum(p.numel() for p in fast.parameters()) == sum(p.numel() for p in plain.parameters())
    assert not isinstance(load_separator("tiny-av", fast=False), FastSeparator)
    monkeypatch.setenv(inference.ENV_VAR, "off")
    assert not isinstance(load_separator("tiny-av"), FastSeparator)
    monkeypatch.setenv(inference.ENV_VAR, "sometimes")
    with pytest.raises(Exception, match="AVSS_BENCH_FAST"):
        load_separator("tiny-av")


def test_profile_counts_params_and_macs_on_the_eager_model() -> None:
    model = load_separator("tiny-av", fast=False)
    eager = profile_model(model, "tiny-av", seconds=1.0, runs=0)
    fast = profile_model(FastSeparator(model, "cached"), "tiny-av", seconds=1.0, runs=0)
    assert fast.macs_separator == eager.macs_separator > 0
    assert fast.params_separator == eager.params_separator > 0
