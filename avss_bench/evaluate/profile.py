"""Params, MACs, latency and peak memory of a separator: what `avss-bench profile` prints.

What is measured, for one input of `seconds` of audio (16 kHz) and its lips (25 fps), batch 1:

* **Params**: exact integers, the separator alone (every parameter not inside
  `model.lip_frontend`, the visual encoder, whatever it is: the LRW ResNet-18 lip front-end or a
  model's own encoder exposed under that name), the visual encoder alone (0 for separators
  without one), and both together.
* **MACs**: `torch.utils.flop_counter.FlopCounterMode`, MACs = FLOPs / 2. It counts the
  multiply-accumulates of `aten.convolution` (every Conv1d/2d/3d, including grouped and
  depthwise convs, whose cost it computes from the per-group weight shape, and transposed convs,
  counted per input element) and of matrix products (`mm`, `addmm`, `bmm`, attention).
  Biases, norms, activations, pooling, interpolation and elementwise gates are not counted
  (in these models they are a few percent; ptflops-like counters add them). The separator is
  counted through `model.separate(mixture, embedding)` when it has one (the front-end's
  embedding computed beforehand), otherwise as the whole forward minus the front-end. Counting
  runs on the `meta` device (shapes only, instant) when the model can be rebuilt from its
  `config` there, else the separator on `meta` and the front-end on real tensors (a VQ
  codebook lookup needs values), else everything on real tensors.
* **Per 1 s**: Params and MACs in both conventions the papers use, counted again at 1 s of
  input (not scaled: some time transforms grow with the square of the length): separator
  only (without the visual encoder) and with the visual encoder.
* **What the papers count**: the model's card (`models.card.ModelCard`) says how its papers
  count Params and MACs (`counting`) and what its visual encoder costs in their terms
  (`visual_encoder_note`); both are printed beside ours.
* **Latency**: wall-clock median of `runs` timed forward passes `model(mixture, lips)` (front-end
  included) after `warmup` untimed ones, under `torch.inference_mode`, plus the front-end alone.
* **Peak memory**: CUDA `max_memory_allocated` during one forward (weights included, and the
  part above the weights); on CPU the growth of the process's peak resident set (`ru_maxrss`)
  above the resident set just before the first forward pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from avss_bench.core.constants import SAMPLE_RATE, VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.models.card import card_of
from avss_bench.models.contract import check_separator_output, first_forward
from avss_bench.models.inference import eager_model

MAC_COUNTER = ("torch.utils.flop_counter.FlopCounterMode, MACs = FLOPs/2: aten.convolution "
               "(incl. grouped/depthwise and transposed convs) and matrix products; biases, "
               "norms, activations, pooling, interpolation and elementwise gates not counted")

UNTRAINED_CODEBOOK_NOTE = ("untrained VQ codebook (initted = 0) filled with random codes so the "
                           "random-weight model can run; costs are unaffected")


@dataclass
class ProfileResult:
    """One `avss-bench profile` measurement (JSON keys = field names)."""

    model: str
    target: str
    config: dict[str, Any]
    seconds: float
    device: str
    device_name: str
    threads: int
    torch_version: str
    params_separator: int
    params_lip_frontend: int
    macs_separator: int
    macs_lip_frontend: int
    macs_separator_g: float
    macs_lip_frontend_g: float
    mac_counter: str
    mac_count_device: str
    macs_by_op: dict[str, int]
    runs: int
    warmup: int
    latency_ms_median: float | None
    latency_ms_min: float | None
    latency_ms_all: list[float] = field(default_factory=list)
    latency_ms_lip_frontend_median: float | None = None
    peak_memory_mb: float | None = None
    peak_memory_above_weights_mb: float | None = None
    peak_memory_kind: str | None = None
    peak_memory_note: str | None = None
    display_name: str | None = None  # the card's name for this configuration
    paper_note: str | None = None  # the card's `counting`
    visual_encoder_note: str | None = None  # the card's note on its visual encoder
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    config_source: str = "class defaults"
    visual_encoder: str | None = None
    params_total: int | None = None
    macs_total_g: float | None = None
    macs_separator_1s_g: float | None = None
    macs_lip_frontend_1s_g: float | None = None
    macs_total_1s_g: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def format_human(self) -> str:
        """The paper-style report."""
        sec = f"{self.seconds:g} s"
        total = self.params_separator + self.params_lip_frontend
        lines = [
            f"Model        {self.display_name or self.model}  ({self.model}: {self.target})",
            f"Config       {json.dumps(self.config, sort_keys=True, default=str)}",
            f"             measured config: {self.config_source}",
            f"Input        {sec} = {int(round(self.seconds * SAMPLE_RATE))} samples at 16 kHz + "
            f"{_frames(self.seconds)} lip frames at 25 fps, batch 1",
            f"Device       {self.device} ({self.device_name}; {self.threads} CPU threads), "
            f"torch {self.torch_version}",
            f"Params       separator {self.params_separator / 1e6:.3f} M "
            f"({self.params_separator:,})   lip front-end {self.params_lip_frontend / 1e6:.3f} M "
            f"({self.params_lip_frontend:,})   total {total / 1e6:.3f} M",
            f"MACs         separator {self.macs_separator_g:.2f} G   lip front-end "
            f"{self.macs_lip_frontend_g:.2f} G   per {sec} of input",
            f"             counter: {self.mac_counter}",
        ]
        lines += self.format_conventions()
        if self.latency_ms_median is not None:
            lines.append(
                f"Latency      {self.latency_ms_median:.1f} ms median (min "
                f"{self.latency_ms_min:.1f} ms) of {self.runs} runs after {self.warmup} warm-up, "
                f"full forward incl. front-end; front-end alone "
                f"{_fmt(self.latency_ms_lip_frontend_median)} ms")
        else:
            lines.append("Latency      not measured (--runs 0)")
        if self.peak_memory_mb is not None:
            extra = (f" ({self.peak_memory_above_weights_mb:.1f} MB above the weights)"
                     if self.peak_memory_above_weights_mb is not None else "")
            lines.append(f"Peak memory  {self.peak_memory_mb:.1f} MB {self.peak_memory_kind}"
                         f"{extra}")
        else:
            lines.append(f"Peak memory  not reported: {self.peak_memory_note}")
        if self.paper_note:
            lines.append(f"Note         {self.paper_note}")
        if self.params_lip_frontend and self.visual_encoder_note:
            lines.append(f"             {self.visual_encoder_note}")
        lines += [f"             {note}" for note in self.notes]
        return "\n".join(lines)

    def format_conventions(self) -> list[str]:
        """Both conventions the papers use, per 1 s of input, one counter."""
        if self.macs_separator_1s_g is None:
            return []
        encoder = self.visual_encoder or "none"
        total = self.params_total if self.params_total is not None else self.params_separator
        return [
            f"Per 1 s      separator only (without the visual encoder): "
            f"{self.params_separator / 1e6:.3f} M params, {self.macs_separator_1s_g:.2f} G MACs",
            f"             with the visual encoder ({encoder}): {total / 1e6:.3f} M params, "
            f"{self.macs_total_1s_g:.2f} G MACs",
            "             counter: torch.utils.flop_counter (FLOPs / 2), both rows",
        ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _frames(seconds: float) -> int:
    return max(1, int(round(seconds * VIDEO_FPS)))


# ---------------------------------------------------------------- params
def split_params(model: nn.Module) -> tuple[int, int]:
    """(separator parameters excluding `model.lip_frontend`, lip front-end parameters)."""
    frontend = getattr(model, "lip_frontend", None)
    frontend_ids = set()
    if isinstance(frontend, nn.Module):
        frontend_ids = {id(p) for p in frontend.parameters()}
    seen: set[int] = set()
    sep = fe = 0
    for p in model.parameters():  # deduplicated by PyTorch already; keep the guard
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in frontend_ids:
            fe += p.numel()
        else:
            sep += p.numel()
    return sep, fe


# ---------------------------------------------------------------- inputs
def make_inputs(seconds: float, device: str | torch.device = "cpu", batch: int = 1,
                dtype: torch.dtype = torch.float32, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random mixture [batch, seconds*16000] and lips [batch, 1, seconds*25, 88, 88]."""
    if seconds <= 0:
        raise AvssError("--seconds must be positive")
    gen = torch.Generator().manual_seed(seed)
    samples = int(round(seconds * SAMPLE_RATE))
    mixture = 0.1 * torch.randn(batch, samples, generator=gen, dtype=dtype)
    lips = torch.randn(batch, 1, _frames(seconds), 88, 88, generator=gen, dtype=dtype)
    return mixture.to(device), lips.to(device)


# ---------------------------------------------------------------- MACs
def _flops(fn, *args) -> tuple[int, dict[str, int]]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn(*args)
    by_op = {str(op): int(n) // 2 for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()) // 2, by_op


def _macs_on(model: nn.Module, mixture: torch.Tensor, lips: torch.Tensor
             ) -> tuple[int, int, dict[str, int]]:
    frontend = getattr(model, "lip_frontend", None)
    has_frontend = isinstance(frontend, nn.Module)
    fe_macs = 0
    if has_frontend:
        fe_macs, _ = _flops(frontend, lips)
    if has_frontend and callable(getattr(model, "separate", None)):
        with torch.no_grad():
            embedding = frontend(lips)
        sep_macs, by_op = _flops(model.separate, mixture, embedding)
    else:
        total, by_op = _flops(model, mixture, lips)
        sep_macs = total - fe_macs
    return sep_macs, fe_macs, by_op


def count_macs(model: nn.Module, seconds: float, device: str = "cpu"
               ) -> tuple[int, int, dict[str, int], str]:
    """(separator MACs, lip front-end MACs, separator MACs per op, where counted).

    Counts on the meta device when `type(model)(**model.config)` can be built there (no
    arithmetic, no memory), else with real tensors on `device`.
    """
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        try:
            with torch.device("meta"):
                meta_model = type(model)(**config).eval()
                mixture, lips = make_inputs(seconds, "meta")
            sep, fe, by_op = _macs_on(meta_model, mixture, lips)
            return sep, fe, by_op, "meta"
        except Exception:  # noqa: BLE001 - any failure: count on real tensors instead
            pass
        try:  # the separator from shapes, the front-end (value-dependent) on real tensors
            return (*_macs_hybrid(model, meta_model, seconds, device), f"meta + {device}")
        except Exception:  # noqa: BLE001
            pass
    mixture, lips = make_inputs(seconds, device)
    sep, fe, by_op = _macs_on(model, mixture, lips)
    return sep, fe, by_op, str(device)


def _macs_hybrid(model: nn.Module, meta_model: nn.Module, seconds: float, device: str
                 ) -> tuple[int, int, dict[str, int]]:
    frontend = model.lip_frontend
    _, lips = make_inputs(seconds, device)
    fe_macs, _ = _flops(frontend, lips)
    with torch.no_grad():
        embedding = frontend(lips)
    mixture, _ = make_inputs(seconds, "meta")
    sep_macs, by_op = _flops(meta_model.separate, mixture, embedding.to("meta"))
    return sep_macs, fe_macs, by_op


def fill_untrained_codebooks(model: nn.Module) -> bool:
    """Give vector-quantiser codebooks that were never trained (`initted` = 0, as in a freshly
    built model with a VQ video encoder) random codes, so a random-weight model can run. True
    if any was filled."""
    filled = False
    for module in model.modules():
        initted, embed = getattr(module, "initted", None), getattr(module, "embed", None)
        if isinstance(initted, torch.Tensor) and isinstance(embed, torch.Tensor) \
                and initted.device.type != "meta" and not bool(initted.flatten()[0]):
            with torch.no_grad():
                embed.copy_(torch.randn(embed.shape, generator=torch.Generator().manual_seed(0),
                                        dtype=embed.dtype))
                initted.fill_(1)
            filled = True
    return filled


def visual_encoder_name(model: nn.Module) -> str | None:
    """`lip_frontend` and its class (and the attribute it also is, e.g. `video_encoder`)."""
    frontend = getattr(model, "lip_frontend", None)
    if not isinstance(frontend, nn.Module):
        return None
    if getattr(model, "video_encoder", None) is frontend:
        return f"video_encoder = lip_frontend, {type(frontend).__name__}"
    return f"lip_frontend, {type(frontend).__name__}"


# ---------------------------------------------------------------- timing and memory
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(fn, *args, runs: int = 5, warmup: int = 1,
              device: str | torch.device = "cpu") -> list[float]:
    """Wall-clock milliseconds of `runs` calls of `fn(*args)` after `warmup` untimed calls."""
    device = torch.device(device)
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn(*args)
        _sync(device)
        for _ in range(runs):
            start = time.perf_counter()
            fn(*args)
            _sync(device)
            times.append((time.perf_counter() - start) * 1e3)
    return times


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * 1024


def measure_peak_memory(model: nn.Module, mixture: torch.Tensor, lips: torch.Tensor
                        ) -> tuple[float | None, float | None, str | None, str | None]:
    """One forward pass: (peak MB, MB above weights, kind, note when not measurable).

    Must be the process's first forward pass of this model on CPU (the peak resident set is a
    high-water mark: later passes reuse memory and show no growth).
    """
    device = mixture.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.inference_mode():
            model(mixture, lips)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return peak / 2**20, (peak - base) / 2**20, "CUDA max_memory_allocated", None
    rss_before = _rss_bytes()
    if rss_before is None:
        with torch.inference_mode():
            model(mixture, lips)
        return None, None, None, "no /proc/self/statm on this platform (CPU RSS unavailable)"
    peak_before = _maxrss_bytes()
    with torch.inference_mode():
        model(mixture, lips)
    peak_after = _maxrss_bytes()
    if peak_after <= peak_before:
        return None, None, None, ("the forward pass stayed below the process's earlier peak "
                                  "resident set, so its own peak cannot be read from ru_maxrss")
    growth = (peak_after - rss_before) / 2**20
    return growth, None, ("CPU peak RSS growth during the first forward pass (ru_maxrss above "
                          "the resident set before it)"), None


# ---------------------------------------------------------------- the whole profile
def profile_model(model: nn.Module, name: str, target: str = "", seconds: float = 2.0,
                  device: str = "cpu", runs: int = 5, warmup: int = 1) -> ProfileResult:
    """Profile an already built separator (see the module docstring for what is measured);
    `name` is its registered name (the card's default name when the class has no card)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AvssError("--device cuda requested but CUDA is not available")
    if runs < 0 or warmup < 0:
        raise AvssError("--runs and --warmup must be >= 0")
    if dev.type == "cuda":
        # exact fp32 convolutions, as the reference measurements
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = model.to(dev).eval()
    eager = eager_model(model)  # Params and MACs count the eager model; latency runs `model`
    card = card_of(eager, name)
    notes = [UNTRAINED_CODEBOOK_NOTE] if fill_untrained_codebooks(eager) else []
    params_sep, params_fe = split_params(eager)
    mixture, lips = make_inputs(seconds, dev)
    hint = f"--seconds sets the input length, {seconds:g} s here"

    peak_mb = above_mb = kind = note = None
    latencies: list[float] = []
    fe_median = None
    if runs > 0:
        with first_forward(name, lips, hint=hint):  # an input it cannot take: one line
            peak_mb, above_mb, kind, note = measure_peak_memory(model, mixture, lips)
        latencies = time_runs(model, mixture, lips, runs=runs, warmup=warmup, device=dev)
        frontend = getattr(model, "lip_frontend", None)
        if isinstance(frontend, nn.Module):
            fe_median = statistics.median(
                time_runs(frontend, lips, runs=runs, warmup=warmup, device=dev))
    else:
        note = "not measured (--runs 0)"
    with torch.inference_mode(), first_forward(name, lips, first=runs == 0, hint=hint):
        check_separator_output(model(mixture, lips), mixture, name)  # before any number

    macs_sep, macs_fe, by_op, where = count_macs(eager, seconds, device)
    sep_1s, fe_1s = (macs_sep, macs_fe) if seconds == 1 else count_macs(eager, 1.0, device)[:2]
    return ProfileResult(
        model=name, target=target, config=dict(getattr(eager, "config", {}) or {}),
        seconds=float(seconds), device=dev.type, device_name=_device_name(dev),
        threads=torch.get_num_threads(), torch_version=torch.__version__,
        params_separator=params_sep, params_lip_frontend=params_fe,
        macs_separator=macs_sep, macs_lip_frontend=macs_fe,
        macs_separator_g=macs_sep / 1e9, macs_lip_frontend_g=macs_fe / 1e9,
        mac_counter=MAC_COUNTER, mac_count_device=where, macs_by_op=by_op,
        runs=runs, warmup=warmup,
        latency_ms_median=statistics.median(latencies) if latencies else None,
        latency_ms_min=min(latencies) if latencies else None,
        latency_ms_all=[round(t, 3) for t in latencies],
        latency_ms_lip_frontend_median=fe_median,
        peak_memory_mb=peak_mb, peak_memory_above_weights_mb=above_mb,
        peak_memory_kind=kind, peak_memory_note=note,
        display_name=card.display_name(getattr(eager, "config", None)),
        paper_note=card.counting or None, visual_encoder_note=card.visual_encoder_note or None,
        visual_encoder=visual_encoder_name(eager),
        params_total=params_sep + params_fe, macs_total_g=(macs_sep + macs_fe) / 1e9,
        macs_separator_1s_g=sep_1s / 1e9, macs_lip_frontend_1s_g=fe_1s / 1e9,
        macs_total_1s_g=(sep_1s + fe_1s) / 1e9, notes=notes)


def profile_separator(name: str | None, seconds: float = 2.0, device: str = "cpu",
                      runs: int = 5, warmup: int = 1, threads: int | None = None,
                      checkpoint: str | None = None, **config: Any) -> ProfileResult:
    """Build `name` (registered name or `package.module:Class`) and profile it.

    With a checkpoint, the model is built from the config stored with its weights (what was
    trained, not the class defaults), `name` defaults to the separator the checkpoint records
    (another one is an error), and the result records the checkpoint's sha256 and which config
    was measured.
    """
    from pathlib import Path

    from avss_bench.evaluate.stamp import model_from_checkpoint
    from avss_bench.models.checkpoints import sha256_of
    from avss_bench.models.registry import load_separator, separators

    if threads is not None:
        if threads < 1:
            raise AvssError("--threads must be >= 1")
        torch.set_num_threads(threads)
    path = None if checkpoint is None else Path(checkpoint)
    name = model_from_checkpoint(name, path)
    entry = separators.resolve(name)
    # Cost does not depend on the values of the weights: a release without its lip front-end
    # is measured with the front-end's random initialisation.
    model = load_separator(name, checkpoint=path, random_frontend=True, **config)
    result = profile_model(model, name=entry.name, target=entry.target, seconds=seconds,
                           device=device, runs=runs, warmup=warmup)
    if path is not None:
        result.checkpoint, result.checkpoint_sha256 = str(path), sha256_of(path)
        result.config_source = f"stored with the weights in {path.name}"
    if config:
        result.config_source += f", overridden by {sorted(config)}"
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"
