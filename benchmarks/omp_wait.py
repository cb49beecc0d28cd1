"""How libgomp's wait policy changes a command's speed, idle and beside other busy processes.

torch's CPU kernels run on libgomp threads. Between parallel regions an idle thread either
spins (fast hand-over, but it burns a core that another process wants) or sleeps (free for
others, but every hand-over pays a wake-up). `avss-bench` measures the machine when a command
starts and picks one (`core.runtime.configure_process`: PASSIVE when other processes leave
fewer free cores than the command's threads, else `GOMP_SPINCOUNT=10000`); this script measures
that choice against fixed settings.

Each setting runs in a fresh process (libgomp reads its variables once), set up as the CLI sets
itself up (`configure_process` before torch is imported, for the `avss-bench` row; the fixed
settings in its environment). Workloads:

* `train`: the demo's training step: `iianet-demo` at the demo recipe's size, batch 8 x 2 s,
  Adam, 2 torch threads (`DEMO_THREADS`), 2 warm-up steps, then the mean of `--steps` steps;
* `evaluate`: `evaluate` (the library call behind `avss-bench evaluate`) of `iianet-demo` at
  random init on a synthetic prepared split of `--mixtures` 2 s two-speaker mixtures (SI-SNR +
  SDR; torch's default thread count), wall time of the whole call.

`--hogs 0 1` runs every setting with 0 and then 1 busy-looping process started beside it
(`--hog-delay S` starts them S seconds after the command instead, the case of work that arrives
later). The summary gives, per setting, the idle time, the loaded time, loaded / idle and the
idle cost against the fastest idle setting (the goals: the default within 5 % of the fastest
idle and within 2.5x of its own idle time beside one busy process).

    python benchmarks/omp_wait.py --workload train --steps 6 --hogs 0 1
    python benchmarks/omp_wait.py --workload evaluate --mixtures 20 --hogs 0 1
    python benchmarks/omp_wait.py --workload train --steps 10 --hogs 0 --rounds 5 \
        --only avss-bench spin 10000         # the idle cost, settings interleaved 5 times
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "avss-bench default (measured at start)"
SETTINGS = {
    DEFAULT: None,
    "spin (libgomp default)": {},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
}

PRELUDE = """
import json, sys, time
from avss_bench.core import runtime
from avss_bench.core.constants import DEMO_THREADS
if sys.argv[1] == "default":
    runtime.configure_process(DEMO_THREADS if sys.argv[2] == "train" else None)
else:
    runtime.tune_allocator()
import torch
choice = dict(runtime.LAST_CHOICE)
"""

TRAIN = PRELUDE + """
from avss_bench.models.registry import build_separator
from avss_bench.train.config import load_config
torch.set_num_threads(DEMO_THREADS)
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
steps = int(sys.argv[3])
start = time.perf_counter()
for _ in range(steps):
    step()
print(json.dumps({"seconds": (time.perf_counter() - start) / steps, "choice": choice}))
"""

EVALUATE = PRELUDE + """
from avss_bench.evaluate.run import evaluate
from avss_bench.train.config import load_config
config = load_config("demo/iianet-demo")
start = time.perf_counter()
evaluate("iianet-demo", None, sys.argv[3], split="tt", out_dir=sys.argv[4],
         metrics=("si_snr", "sdr"), quiet=True, random_init=True, overwrite=True,
         **config.model.config)
print(json.dumps({"seconds": time.perf_counter() - start, "choice": choice}))
"""


def run_setting(name: str, extra: dict | None, args: argparse.Namespace, hogs: int,
                data: Path | None, out: Path) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env = {**base, **(extra or {})}
    code = TRAIN if args.workload == "train" else EVALUATE
    argv = [sys.executable, "-c", code, "default" if extra is None else "fixed", args.workload]
    argv += [str(args.steps)] if args.workload == "train" else [str(data), str(out)]
    hog_procs: list[subprocess.Popen] = []
    start = time.perf_counter()
    if args.hog_delay <= 0:
        hog_procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                     for _ in range(hogs)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        if hogs and args.hog_delay > 0:
            try:
                proc.wait(timeout=args.hog_delay)
            except subprocess.TimeoutExpired:
                hog_procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                             for _ in range(hogs)]
        try:
            stdout, stderr = proc.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"setting": name, "hogs": hogs, "seconds": None,
                    "wall_s": time.perf_counter() - start, "stopped": True}
    finally:
        for hog in hog_procs:
            hog.kill()
            hog.wait()
    if proc.returncode != 0:
        raise SystemExit(f"{name}: the child failed:\n{stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"setting": name, "hogs": hogs, "seconds": result["seconds"],
            "wall_s": time.perf_counter() - start, "choice": result["choice"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["train", "evaluate"], default="train")
    parser.add_argument("--steps", type=int, default=6, help="train: timed steps")
    parser.add_argument("--mixtures", type=int, default=20, help="evaluate: test mixtures")
    parser.add_argument("--hogs", type=int, nargs="+", default=[0, 1],
                        help="busy processes beside the command (one pass per count)")
    parser.add_argument("--hog-delay", type=float, default=0.0,
                        help="start the busy processes this many seconds after the command")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per setting")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the settings whose name contains one of these strings "
                             "('avss-bench': the default)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every setting this many times, settings interleaved within "
                             "each round; the table gives the median and the range")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in SETTINGS if not args.only or any(p in n for p in args.only)
             or (n == DEFAULT and "avss-bench" in args.only)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = None
        if args.workload == "evaluate":
            sys.path.insert(0, str(ROOT / "tests"))
            from synthetic import make_prepared_corpus

            data = make_prepared_corpus(Path(tmp) / "data", {"tt": args.mixtures})
            # one untimed pass: file-system caches, the mixture baselines, imports
            run_setting("warm-up", {"OMP_WAIT_POLICY": "PASSIVE"}, args, 0, data,
                        Path(tmp) / "warm")
        for hogs in args.hogs:
            for round_ in range(args.rounds):
                for name in names:
                    out = Path(tmp) / f"out{len(rows)}"
                    row = run_setting(name, SETTINGS[name], args, hogs, data, out)
                    row.update(round=round_, loadavg_1min=round(os.getloadavg()[0], 2))
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print_summary(summarise(rows), args)


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (busy processes, setting): the median of its rounds, their range, whether
    any round was stopped, the policy chosen (the first round's) and the highest load."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["hogs"], row["setting"]), []).append(row)
    summary = []
    for (hogs, setting), group in groups.items():
        times = sorted(r["seconds"] for r in group if r["seconds"] is not None)
        summary.append({"setting": setting, "hogs": hogs,
                        "seconds": statistics.median(times) if times else None,
                        "low": times[0] if times else None, "high": times[-1] if times else None,
                        "rounds": len(group), "stopped": any(r.get("stopped") for r in group),
                        "wall_s": max(r["wall_s"] for r in group),
                        "choice": group[0].get("choice"),
                        "loadavg_1min": max(r["loadavg_1min"] for r in group)})
    return summary


def print_summary(rows: list[dict], args: argparse.Namespace) -> None:
    unit = "s/step" if args.workload == "train" else "s (whole evaluate)"
    idle = {r["setting"]: r["seconds"] for r in rows if r["hogs"] == 0 and r["seconds"]}
    best = min(idle.values()) if idle else None
    print(f"workload: {args.workload}, {unit}; hogs started "
          f"{'with' if args.hog_delay <= 0 else f'{args.hog_delay:g} s after'} the command")
    print("| setting | busy processes | " + unit + " (median) | range over rounds | "
          "x own idle | x fastest idle | policy chosen | load avg (1 min, max) |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        sec = r["seconds"]
        own = idle.get(r["setting"])
        chosen = r.get("choice") or {}
        policy = ", ".join(f"{k}={v}" for k, v in chosen.items() if k.isupper()) or "fixed"
        spread = "–" if r["low"] is None else f"{r['low']:.2f}-{r['high']:.2f}"
        cells = ["–" if sec is None else f"{sec:.2f}", spread,
                 "–" if sec is None or not own else f"{sec / own:.2f}",
                 "–" if sec is None or not best else f"{sec / best:.2f}"]
        stopped = f" (stopped after {r['wall_s']:.0f} s)" if r.get("stopped") else ""
        print(f"| {r['setting']}{stopped} | {r['hogs']} | {' | '.join(cells)} | {policy} | "
              f"{r['loadavg_1min']} |")


if __name__ == "__main__":
    main()
