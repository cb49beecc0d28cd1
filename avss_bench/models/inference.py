"""Fast CPU inference: a separator's forward as ahead-of-time compiled graphs, cached on disk.

`load_separator` returns the model wrapped in a `FastSeparator` (unless `fast=False` or
`AVSS_BENCH_FAST=off`). In inference (eval mode, no autograd, float32 CPU tensors) it runs
each stage of the forward as a graph compiled by AOTInductor (`torch.export` +
`torch._inductor.aoti_compile_and_package`, weights frozen into the graph, elementwise work
fused into C++ loops); anything else (training, autograd, CUDA, other dtypes) runs the eager
model unchanged. Training always uses the eager model.

Stages: a model with a `lip_frontend` and a `separate(mixture, embedding)` (every bundled
audio-visual separator) runs as two graphs, `separate(mixture, lip_frontend(lips))`, so the
separation network alone can be timed against an official implementation; any other
separator as one graph of its `forward`. A model may offer `inference_variant()`: an equivalent
module (the same function up to float rounding, e.g. CTCNet with its 1x1 convolutions moved
before the upsamplings) that is compiled instead.

Graphs have static shapes: one graph per stage and input shape. The one-time cost (minutes per
model and length on a 2-core machine) is paid only where it pays back: a shape is compiled
when this process has spent `COMPILE_AFTER_S` seconds of eager time on it, in calls of at least
`MIN_CALL_S` seconds each (an evaluation of a
split whose mixtures mostly share one length compiles that length once; `separate` runs
fixed-length windows, so a long video compiles its window length once and a short clip never
waits for a compiler), or at once with `AVSS_BENCH_FAST=now` or
`FastSeparator.prepare(...)`. Compiled graphs are verified against the eager output on the
inputs that triggered them (max |y - y_eager| / max |y_eager| <= `REL_TOLERANCE`, else the
shape stays eager; so does a traced graph of more than `MAX_GRAPH_NODES` operations) and
cached in `<cache>/compiled/` (`avss_bench.core.cache`) under a key of
the stage, the class, its config, a sha256 of its sources and of every weight and buffer,
the input shapes, the torch version and the CPU vector ISA, so any later process with the same
model, code, weights and shape loads the graph in well under a second (the thread count is read
at run time). A graph enters the cache only once verified; one that failed verification is
remembered (`<key>.failed.json`) and not compiled again.

A model traced here must not keep tensors made while `torch.compiler.is_compiling()` in a cache
that its eager calls read (IIANet's repeat counts and Dolphin's DCT maps bypass theirs then).

`AVSS_BENCH_FAST`: `auto` (default: cached graphs, compile after `COMPILE_AFTER_S`), `now`
(compile at the first call of a shape), `cached` (use cached graphs, never compile), `off`
(eager only). Figures: `benchmarks/README.md` ("Models").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avss_bench.core.atomic import temp_path, write_json
from avss_bench.core.cache import cache_path

ENV_VAR = "AVSS_BENCH_FAST"
MODES = ("auto", "now", "cached", "off")
#: eager seconds spent on one stage and shape in a process before it is compiled (`auto`):
#: about the compile time itself (13-15 min per model and length on a 2-core VM, 2026-12-07),
#: so a job that ends early never spends more than its own runtime again on a compiler, and a
#: long one (a test split of a full-size model: hours) gets the compiled graph for the rest...
COMPILE_AFTER_S = 1200.0
#: ... by calls of at least this many seconds each on average (a small model such as the demo's
#: gains too little to wait minutes for a compiler)
MIN_CALL_S = 0.5
#: largest accepted max |compiled - eager| / max |eager| on the inputs that triggered a compile
REL_TOLERANCE = 1e-5
#: larger traced graphs are not compiled (compile time grows faster than linearly: IIANet's
#: 13.6k operations took ~10 min on a busy 2-core VM; RTFS-Net's SRU loops unroll to 53k)
MAX_GRAPH_NODES = 30000
#: version of the cache layout and of how graphs are built (part of every key)
FORMAT = 1
#: weights folded into the graph; kernels ask OpenMP for the thread count at run time (one
#: graph serves every `torch.set_num_threads`)
INDUCTOR_CONFIGS = {"freezing": True, "cpp.dynamic_threads": True}


def fast_mode(mode: str | bool | None = None) -> str:
    """`mode` (True = `auto`, False = `off`), else `$AVSS_BENCH_FAST`, else `auto`."""
    if mode is True:
        return "auto"
    if mode is False:
        return "off"
    value = (mode or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if value in ("0", "no", "false"):
        return "off"
    if value in ("1", "yes", "true"):
        return "auto"
    if value not in MODES:
        from avss_bench.core.errors import AvssError

        raise AvssError(f"{ENV_VAR}={value!r}: expected one of {', '.join(MODES)}")
    return value


def fast_separator(model: nn.Module, mode: str | bool | None = None) -> nn.Module:
    """`model` wrapped for fast CPU inference, or `model` itself when the mode is `off`."""
    if fast_mode(mode) == "off" or isinstance(model, FastSeparator):
        return model
    return FastSeparator(model, mode)


def eager_model(model: nn.Module) -> nn.Module:
    """The eager module behind a `FastSeparator` (the model itself otherwise)."""
    return model.eager if isinstance(model, FastSeparator) else model


def vector_isa() -> str:
    """The CPU vector instruction set inductor generates code for (part of the cache key)."""
    try:
        from torch._inductor import cpu_vec_isa

        return str(cpu_vec_isa.pick_vec_isa()) or "none"
    except Exception:  # noqa: BLE001 - older/newer torch: the machine name is a safe stand-in
        return platform.machine()


@functools.cache
def code_sha256(cls: type) -> str:
    """sha256 of the sources a traced forward comes from: every .py file of the folder of
    `cls`'s module (its own file only for a top-level module) and of `avss_bench.models` (the
    layer models build on), so a changed forward never reuses a graph traced from the old one."""
    digest = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}".encode())
    module = sys.modules.get(cls.__module__)
    files: list[Path] = sorted(Path(__file__).parent.glob("*.py"))
    where = getattr(module, "__file__", None)
    if where:
        files += (sorted(Path(where).parent.glob("*.py")) if "." in cls.__module__
                  else [Path(where)])
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes) of `model`."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict(keep_vars=False).items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        if data.numel():
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _Stage(nn.Module):
    """One stage of the forward as a module torch.export can trace."""

    def __init__(self, model: nn.Module, stage: str) -> None:
        super().__init__()
        self.model = model
        self.stage = stage

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        if self.stage == "frontend":
            return self.model.lip_frontend(args[0])
        if self.stage == "separate":
            return self.model.separate(*args)
        return self.model(*args)


class FastSeparator(nn.Module):
    """A separator whose inference runs compiled CPU graphs (see the module docstring).

    Same forward contract as the wrapped model: `forward(mixture [B, T], lips [B, 1, F, 88,
    88]) -> [B, T]`; `separate(mixture, embedding)` when the model has one. Every other
    attribute (config, lip_frontend, ...) is the eager model's, `eager` is the model itself,
    and `state_dict` / `load_state_dict` are its (no extra key prefix).
    """

    def __init__(self, model: nn.Module, mode: str | bool | None = None) -> None:
        super().__init__()
        self.eager = model
        self.mode = fast_mode(mode)
        self.two_stage = (isinstance(getattr(model, "lip_frontend", None), nn.Module)
                          and callable(getattr(model, "separate", None)))
        self._graphs: dict[tuple, Any] = {}          # (stage, shapes) -> compiled runner
        self._failed: set[tuple] = set()             # (stage, shapes) that stay eager
        self._eager_s: dict[tuple, float] = defaultdict(float)
        self._eager_calls: dict[tuple, int] = defaultdict(int)
        self._weights: tuple | None = None           # (version fingerprint, sha256)
        self._variant: nn.Module | None = None
        #: per stage: calls run compiled / eager, compile and load seconds (for benchmarks)
        self.stats: dict[str, float] = defaultdict(float)
        self.train(model.training)

    # ------------------------------------------------------------ the eager model's face
    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["eager"], name)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.eager.state_dict(*args, **kwargs)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._graphs.clear()
        return self.eager.load_state_dict(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"

    # ------------------------------------------------------------ forward passes
    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None) -> torch.Tensor:
        if lips is None or not self._usable(mixture, lips):
            return self.eager(mixture, lips)
        if self.two_stage:
            embedding = self._run("frontend", (lips.to(mixture.dtype),))
            return self._run("separate", (mixture, embedding))
        return self._run("forward", (mixture, lips))

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """The separation network alone (compiled like `forward`)."""
        if not self._usable(mixture, embedding):
            return self.eager.separate(mixture, embedding)
        return self._run("separate", (mixture, embedding))

    def prepare(self, mixture: torch.Tensor, lips: torch.Tensor) -> bool:
        """Compile (or load) every stage for these input shapes now; True when all are fast."""
        saved, self.mode = self.mode, "now" if self.mode != "off" else "off"
        try:
            with torch.inference_mode():
                self.forward(mixture, lips)
        finally:
            self.mode = saved
        return all(runner is not None for runner in self._graphs.values()) and bool(self._graphs)

    # ------------------------------------------------------------ machinery
    def _usable(self, *tensors: torch.Tensor) -> bool:
        return (self.mode != "off" and not self.training and not torch.is_grad_enabled()
                and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors))

    def _weights_sha(self) -> str:
        tensors = [*self.eager.parameters(), *self.eager.buffers()]
        fingerprint = tuple((t.data_ptr(), t._version) for t in tensors)
        if self._weights is None or self._weights[0] != fingerprint:
            if self._weights is not None:  # weights changed in place: graphs made before
                self._graphs.clear()       # are stale
                self._failed.clear()
            self._weights = (fingerprint, weights_sha256(self.eager))
        return self._weights[1]

    def _key(self, stage: str, args: tuple[torch.Tensor, ...]) -> str:
        cls = type(self.eager)
        ident = {"format": FORMAT, "stage": stage, "class": f"{cls.__module__}.{cls.__qualname__}",
                 "config": json.loads(json.dumps(getattr(self.eager, "config", None) or {},
                                                 sort_keys=True, default=str)),
                 "variant": callable(getattr(self.eager, "inference_variant", None)),
                 "weights": self._weights_sha(),
                 "inputs": [[list(a.shape), str(a.dtype)] for a in args],
                 "code": code_sha256(cls), "torch": torch.__version__, "isa": vector_isa(),
                 "inductor": INDUCTOR_CONFIGS, "python": sys.version_info[:2]}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def _run(self, stage: str, args: tuple[torch.Tensor, ...]) -> torch.Tensor:
        shapes = (stage, tuple((tuple(a.shape), a.dtype) for a in args))
        self._weights_sha()  # drops graphs made for other weights before the lookup
        runner = self._graphs.get(shapes)
        if runner is None and shapes not in self._failed:
            runner = self._load(stage, args)
            if runner is None and self._refused(stage, args):
                self._failed.add(shapes)  # verification failed before: never again
            elif runner is None and (self.mode == "now" or (
                    self.mode == "auto" and self._worth_compiling(shapes))):
                runner = self._compile(stage, args)
                if runner is None:
                    self._failed.add(shapes)
            if runner is not None:
                self._graphs[shapes] = runner
        if runner is not None:
            self.stats[f"{stage}_fast_calls"] += 1
            out = runner(*args)
            return out[0] if isinstance(out, (list, tuple)) else out
        start = time.perf_counter()
        out = _Stage(self.eager, stage)(*args)
        self._eager_s[shapes] += time.perf_counter() - start
        self._eager_calls[shapes] += 1
        self.stats[f"{stage}_eager_calls"] += 1
        return out

    def _worth_compiling(self, shapes: tuple) -> bool:
        """`auto`: enough eager time spent on this shape, by calls slow enough to gain."""
        spent, calls = self._eager_s[shapes], self._eager_calls[shapes]
        return spent >= COMPILE_AFTER_S and spent / max(calls, 1) >= MIN_CALL_S

    def _traced(self) -> nn.Module:
        """What is compiled: the model's `inference_variant()` when it has one."""
        variant = getattr(self.eager, "inference_variant", None)
        if not callable(variant):
            return self.eager
        if self._variant is None:
            self._variant = variant()
        return self._variant

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = cache_path("compiled")
        return folder / f"{key}.pt2", folder / f"{key}.failed.json"

    def _refused(self, stage: str, args: tuple[torch.Tensor, ...]) -> bool:
        """Whether a graph for this stage and shape failed verification (a marker file)."""
        return cache_path("compiled").is_dir() and self._paths(self._key(stage, args))[1].is_file()

    def _load(self, stage: str, args: tuple[torch.Tensor, ...]) -> Any:
        if not cache_path("compiled").is_dir():  # nothing compiled yet: skip the key
            return None
        package, failed = self._paths(self._key(stage, args))
        if failed.is_file() or not package.is_file():
            return None
        start = time.perf_counter()
        try:
            runner = torch._inductor.aoti_load_package(str(package))
        except Exception as err:  # noqa: BLE001 - a damaged or foreign package: recompile
            _note(f"cached graph {package.name} could not be loaded ({_first_line(err)})")
            return None
        self.stats[f"{stage}_load_s"] += time.perf_counter() - start
        return runner

    def _compile(self, stage: str, args: tuple[torch.Tensor, ...]) -> Any:
        """Export, compile, load and verify a graph; it enters the cache only once verified."""
        key = self._key(stage, args)
        package, failed = self._paths(key)
        name = type(self.eager).__name__
        shapes = ", ".join(str(list(a.shape)) for a in args)
        _note(f"compiling {name} {stage} for inputs {shapes} once (minutes; cached in "
              f"{package.parent}; {ENV_VAR}=off skips this)")
        start = time.perf_counter()
        with torch.no_grad():  # before tracing: what the graph must reproduce
            reference = _Stage(self.eager, stage)(*args)
        staged = temp_path(package)
        staged = staged.with_name(staged.name + ".pt2")  # per host and process; ends in .pt2
        try:
            try:
                with torch.no_grad():
                    module = _Stage(self._traced(), stage).eval()
                    program = torch.export.export(module, args, strict=False)
                    nodes = len(program.graph.nodes)
                    if nodes > MAX_GRAPH_NODES:
                        write_json(failed, {"reason": f"graph of {nodes} nodes > "
                                            f"{MAX_GRAPH_NODES}", "stage": stage,
                                            "model": name, "inputs": shapes})
                        _note(f"{name} {stage}: the traced graph has {nodes} operations, too "
                              f"many to compile in reasonable time; running eager")
                        return None
                    staged.parent.mkdir(parents=True, exist_ok=True)
                    torch._inductor.aoti_compile_and_package(
                        program, package_path=str(staged),
                        inductor_configs=dict(INDUCTOR_CONFIGS))  # it adds keys to the dict
                runner = torch._inductor.aoti_load_package(str(staged))
                with torch.no_grad():
                    out = runner(*args)
            except Exception as err:  # noqa: BLE001 - export or compiler trouble: stay eager
                _note(f"{name} {stage}: no compiled graph ({_first_line(err)}); running eager")
                return None
            self.stats[f"{stage}_compile_s"] += time.perf_counter() - start
            error = _relative_error(out[0] if isinstance(out, (list, tuple)) else out, reference)
            if not error <= REL_TOLERANCE:
                write_json(failed, {"reason": f"relative error {error:.3g} > {REL_TOLERANCE:g}",
                                    "stage": stage, "model": name, "inputs": shapes})
                _note(f"{name} {stage}: compiled graph differs from eager by {error:.3g} "
                      f"(> {REL_TOLERANCE:g}); running eager")
                return None
            os.replace(staged, package)  # verified: now others may load it
        finally:
            staged.unlink(missing_ok=True)
        self.stats[f"{stage}_rel_error"] = max(self.stats[f"{stage}_rel_error"], error)
        return runner


def _relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    if out.shape != reference.shape:
        return float("inf")
    scale = reference.abs().max().item()
    return (out - reference).abs().max().item() / (scale if scale > 0 else 1.0)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _note(message: str) -> None:
    print(f"[avss-bench] {message}", file=sys.stderr, flush=True)
