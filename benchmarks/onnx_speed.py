"""A separation network exported to ONNX and run by ONNX Runtime, beside our eager forward.

Issue 26 names an exported graph run by ONNX Runtime as one way to a faster default CPU path.
This script measures it before anything is built on it: the parity fixture's weights and real
LRS2 input (as `model_speed.py`), `separate(mixture, embedding)` exported with torch's ONNX
exporter (`dynamo=True`; the TorchScript exporter cannot export IIANet's adaptive pooling),
an ONNX Runtime CPU session with every graph optimisation on, then CPU-time medians of
interleaved passes (eager, ONNX Runtime) and the relative error of the ONNX output against
eager (max |y_ort - y| / max |y|).

    python benchmarks/onnx_speed.py --models iianet --seconds 2 --threads 1 2 --reps 5

Figures and the machine: benchmarks/README.md ("Models").
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import MODELS, build, inputs  # noqa: E402


class SeparationNetwork(torch.nn.Module):
    """`model.separate` as a module of its own (what the ONNX graph holds)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.model.separate(mixture, embedding)


@contextlib.contextmanager
def plain_depthwise() -> Iterator[None]:
    """Depthwise convolutions exported as convolutions: traced, our IIANet and CTCNet write
    them as k shifted multiply-adds for the compiler to fuse, which ONNX Runtime would run as k
    separate passes."""
    from torch import nn

    from avss_models.ctcnet import blocks as ctcnet_blocks
    from avss_models.iianet import blocks as iianet_blocks

    saved = iianet_blocks.depthwise_conv1d, ctcnet_blocks.Conv1d.forward
    iianet_blocks.depthwise_conv1d = lambda x, conv: conv(x)
    ctcnet_blocks.Conv1d.forward = nn.Conv1d.forward
    try:
        yield
    finally:
        iianet_blocks.depthwise_conv1d, ctcnet_blocks.Conv1d.forward = saved


def export(network: torch.nn.Module, mixture: torch.Tensor, embedding: torch.Tensor,
           path: Path) -> float:
    """Export to `path`; returns seconds. onnxscript's optimiser is off: on IIANet's
    13.6k-operation graph it ran for more than 20 minutes, and ONNX Runtime optimises anyway."""
    start = time.perf_counter()
    with torch.no_grad(), plain_depthwise():
        torch.onnx.export(network, (mixture, embedding), str(path), dynamo=True,
                          optimize=False, input_names=["mixture", "embedding"],
                          output_names=["estimate"])
    return time.perf_counter() - start


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # its constant-folding warnings are not ours to show
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(name: str, seconds: float, threads: list[int], reps: int, warmup: int,
            workdir: Path) -> list[dict]:
    model, fixture = build(name, torch.device("cpu"), True)
    mixture, _, embedding = inputs(seconds, 1, torch.device("cpu"), use_fixture=True)
    if embedding.numel() == 0:
        raise SystemExit(f"{name}: the fixtures' lip embedding is needed (--seconds 1 or 2)")
    network = SeparationNetwork(model).eval()
    path = workdir / f"{name}.onnx"
    export_s = export(network, mixture, embedding, path)
    feed = {"mixture": mixture.numpy(), "embedding": embedding.numpy()}
    rows = []
    for count in threads:
        torch.set_num_threads(count)
        start = time.perf_counter()
        runner = session(path, count)
        session_s = time.perf_counter() - start
        with torch.inference_mode():
            reference = network(mixture, embedding).numpy()
            estimate = runner.run(None, feed)[0]
            error = float(np.abs(estimate - reference).max() / np.abs(reference).max())
            times: dict[str, list[float]] = {"eager": [], "onnxruntime": []}
            for rep in range(warmup + reps):
                eager = cpu_seconds(lambda: network(mixture, embedding))
                onnx = cpu_seconds(functools.partial(runner.run, None, feed))
                if rep >= warmup:
                    times["eager"].append(eager)
                    times["onnxruntime"].append(onnx)
        eager_s = statistics.median(times["eager"])
        onnx_s = statistics.median(times["onnxruntime"])
        rows.append({"model": name, "threads": count, "seconds": seconds,
                     "fixture_weights": fixture, "export_s": round(export_s, 1),
                     "session_s": round(session_s, 1), "eager_cpu_s": round(eager_s, 3),
                     "onnxruntime_cpu_s": round(onnx_s, 3),
                     "onnxruntime_over_eager": round(onnx_s / eager_s, 2),
                     "rel_error": error})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | threads | eager CPU s | ONNX Runtime CPU s | ORT / eager | rel. error "
             "vs eager | export s | session s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threads']} | {r['eager_cpu_s']:.3f} | "
                     f"{r['onnxruntime_cpu_s']:.3f} | {r['onnxruntime_over_eager']:.2f} | "
                     f"{r['rel_error']:.1e} | {r['export_s']:.0f} | {r['session_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["iianet"], choices=list(MODELS))
    parser.add_argument("--seconds", type=float, default=2.0, choices=[1.0, 2.0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    import onnxruntime

    print(json.dumps({"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                      "command": " ".join(sys.argv)}), file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models:
            rows += measure(name, args.seconds, args.threads, args.reps, args.warmup,
                            Path(workdir))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
