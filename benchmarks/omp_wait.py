"""How libgomp's wait policy changes the speed of a demo-model training step, idle and busy.

torch's CPU kernels run on libgomp threads. Between parallel regions an idle thread either
spins (fast hand-over, but it burns a core that another process wants) or sleeps (free for
others, but every hand-over pays a futex wake-up). `avss-bench` picks a short spin
(`GOMP_SPINCOUNT=1000`) in `core.runtime.configure_process`; this script measures the choice.

Each setting runs in a fresh process (libgomp reads its variables once): `iianet-demo` at the
demo recipe's size, batch 8 x 2 s, Adam, 2 torch threads, a few warm-up steps, then the mean
time of `--steps` steps, and the process's wall time including start-up. `--hogs N` starts N
busy-looping processes beside it (a machine shared with other work).

    python benchmarks/omp_wait.py --steps 6            # idle
    python benchmarks/omp_wait.py --steps 3 --hogs 2   # two other busy processes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SETTINGS = {
    "spin (libgomp default)": {},
    "GOMP_SPINCOUNT=1000 (avss-bench)": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=3000": {"GOMP_SPINCOUNT": "3000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
}

CHILD = """
import json, sys, time
import torch
from avss_bench.core.runtime import tune_allocator
from avss_bench.models.registry import build_separator
from avss_bench.train.config import load_config
tune_allocator()
torch.set_num_threads(2)
config = load_config("demo/iianet-demo")
torch.manual_seed(0)
net = build_separator(config.model.name, **config.model.config)
optimiser = torch.optim.Adam(net.parameters(), 1e-3)
mixture, lips = torch.randn(8, 32000), torch.randn(8, 1, 50, 88, 88)
def step():
    loss = net(mixture, lips).pow(2).mean()
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
for _ in range(2):
    step()
steps = int(sys.argv[1])
start = time.perf_counter()
for _ in range(steps):
    step()
print(json.dumps({"seconds_per_step": (time.perf_counter() - start) / steps}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--hogs", type=int, default=0, help="busy processes running beside")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per setting")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the settings whose name contains one of these strings")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.hogs)]
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    try:
        print(f"| setting ({args.hogs} busy processes beside) | s/step | process wall time |")
        print("|---|---:|---:|")
        for name, extra in SETTINGS.items():
            if args.only and not any(part in name for part in args.only):
                continue
            start = time.perf_counter()
            try:
                run = subprocess.run([sys.executable, "-c", CHILD, str(args.steps)],
                                     env={**base, **extra}, capture_output=True, text=True,
                                     timeout=args.timeout, check=True)
            except subprocess.TimeoutExpired:
                print(f"| {name} | – | > {args.timeout:.0f} s (stopped) |", flush=True)
                continue
            per_step = json.loads(run.stdout.strip().splitlines()[-1])["seconds_per_step"]
            print(f"| {name} | {per_step:.2f} | {time.perf_counter() - start:.0f} s |",
                  flush=True)
    finally:
        for hog in hogs:
            hog.kill()


if __name__ == "__main__":
    main()
