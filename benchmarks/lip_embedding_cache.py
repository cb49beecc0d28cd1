"""What `train --cache-lip-embeddings` saves per training step, in CPU time.

A training step of an audio-visual separator with a frozen visual encoder runs the encoder on
every batch, every epoch; with the cache (`avss_bench.train.embedding_cache`), every epoch after
the first looks the embeddings up instead. This times the same training step both ways, after
the cache is filled: forward (`model(mixture, lips)` vs `CachedLipsForward`), negative SNR loss,
backward, Adam step, on random 2 s inputs, `--steps` times after `--warmup`, with the process's
CPU time (user + system; one torch thread by default, so a machine shared with other jobs does
not change the figure much, unlike wall time). It also reports what filling the cache costs
(each item embedded once, alone) and checks that both steps give the same loss.

Models: RTFS-Net at its released size behind its frozen LRW ResNet-18 front-end (`rtfsnet`), and
a small CTCNet behind the same front-end (`ctcnet-small`: a light separator behind a heavy frozen
encoder). Random weights: the cost does not depend on them.

    python benchmarks/lip_embedding_cache.py --model rtfsnet --batch 2
    python benchmarks/lip_embedding_cache.py --model ctcnet-small --batch 2
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics

import torch

from avss_bench.models.registry import build_separator
from avss_bench.train.embedding_cache import cached_forward
from avss_bench.train.losses import negative

MODELS = {
    "rtfsnet": ("rtfsnet", {}),
    "ctcnet-small": ("ctcnet", {"n_filters": 64, "bn_chan": 64, "hid_chan": 64,
                                "an_repeats": 2, "fn_repeats": 2, "video_chan": 32}),
}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_steps(forward, model, mixture, lips, target, steps: int, warmup: int
               ) -> tuple[list[float], float]:
    """CPU seconds of each timed training step, and the last loss."""
    loss_fn = negative("snr")
    torch.manual_seed(1)  # the same dropout draws for both ways
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times, loss = [], None
    for i in range(warmup + steps):
        start = cpu_seconds()
        loss = loss_fn(forward(mixture, lips), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(cpu_seconds() - start)
    return times, float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="rtfsnet")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name, config = MODELS[args.model]
    gen = torch.Generator().manual_seed(0)
    samples, frames = int(args.seconds * 16000), int(args.seconds * 25)
    mixture = 0.1 * torch.randn(args.batch, samples, generator=gen)
    target = 0.1 * torch.randn(args.batch, samples, generator=gen)
    lips = torch.randn(args.batch, 1, frames, 88, 88, generator=gen)

    result: dict[str, object] = {"model": args.model, "batch": args.batch,
                                 "seconds": args.seconds, "threads": args.threads,
                                 "torch": torch.__version__, "cpu": cpu_name()}
    torch.manual_seed(0)
    plain_model = build_separator(name, **config).train()
    torch.manual_seed(0)
    cached_model = build_separator(name, **config).train()
    wrapper = cached_forward(cached_model, lip_augment=False, name=name)
    start = cpu_seconds()
    with torch.no_grad():
        wrapper.cache.embed(cached_model, lips)  # epoch 1: every item embedded once, alone
    result["fill_cpu_s"] = round(cpu_seconds() - start, 3)
    plain, plain_loss = time_steps(plain_model, plain_model, mixture, lips, target,
                                   args.steps, args.warmup)
    cached, cached_loss = time_steps(wrapper, cached_model, mixture, lips, target,
                                     args.steps, args.warmup)
    result["step_cpu_s"] = {"plain": [round(t, 3) for t in plain],
                            "cached": [round(t, 3) for t in cached]}
    result["median_step_cpu_s"] = {"plain": round(statistics.median(plain), 3),
                                   "cached": round(statistics.median(cached), 3)}
    result["speedup_per_step"] = round(statistics.median(plain) / statistics.median(cached), 2)
    result["losses"] = {"plain": plain_loss, "cached": cached_loss}
    result["cache"] = wrapper.cache.stats()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
