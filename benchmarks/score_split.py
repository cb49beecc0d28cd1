"""Scoring a whole test split: `score --manifest` and `evaluate --model mixture` on N mixtures.

A synthetic prepared split of `--mixtures` (default 3000, the LRS2-2Mix test size) two-speaker
2 s mixtures: `--distinct` real mixtures (cut from `../shared/data/metrics`' 16 kHz cases,
each 2 s source a different speech recording) written once and hard-linked under every mixture
id, so every path is distinct (no per-path cache can help) while the disk holds 2 MB. The
estimate of each target is the mixture itself (what the `mixture` separator returns).

1. `score_split` (= `avss-bench score --manifest`) with `--jobs`, SI-SNR + SDR on every mixture,
   mixture baselines computed (a fresh baseline cache), then again with them cached (a second
   model on the same split);
2. each metric alone (`si_snr`, `sdr`, `pesq`, `stoi`) on the first `--per-metric` mixtures,
   baselines computed, extrapolated linearly to the whole split;
3. `evaluate("mixture", ...)` (= `avss-bench evaluate --model mixture`, one process), SI-SNR +
   SDR on every mixture.

Wall times of the whole run; the load average is printed with each row (the machine may be
shared).

    python benchmarks/score_split.py --mixtures 3000 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
METRICS_DATA = ROOT.parent / "shared" / "data" / "metrics"
RATE, SECONDS = 16000, 2.0


def speech_sources() -> list[np.ndarray]:
    """Every 16 kHz reference signal of the metric cases, cut to 2 s (distinct recordings)."""
    out, seen = [], set()
    for case in sorted(METRICS_DATA.glob("c*")):
        for wav in sorted(case.glob("*.wav")):
            x, rate = sf.read(str(wav), dtype="float32")
            if rate != RATE or x.ndim != 1 or len(x) < RATE * SECONDS:
                continue
            key = round(float(np.abs(x).sum()), 3)
            if key in seen:
                continue
            seen.add(key)
            out.append(x[:int(RATE * SECONDS)])
    return out


def build_split(root: Path, mixtures: int, distinct: int) -> Path:
    """manifests/tt.csv + wavs + lips + estimates (see the module docstring); returns root."""
    from avss_bench.io.manifest import write_manifest

    sources = speech_sources()
    if len(sources) < 2:
        raise SystemExit(f"need 16 kHz wavs of >= 2 s under {METRICS_DATA}")
    rng = np.random.default_rng(0)
    pool = []
    for i in range(distinct):
        a, b = rng.choice(len(sources), size=2, replace=False)
        s1, s2 = sources[a], sources[b] * 10 ** (rng.uniform(-5, 5) / 20)
        peak = max(np.abs(s1 + s2).max(), np.abs(s1).max(), np.abs(s2).max())
        files = {}
        for kind, x in (("mix", s1 + s2), ("s1", s1), ("s2", s2)):
            path = root / "pool" / f"{i}_{kind}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), (0.9 * x / peak).astype(np.float32), RATE, subtype="PCM_16")
            files[kind] = path
        lips = root / "pool" / f"{i}_lips.npz"
        np.savez_compressed(lips, data=np.full((50, 96, 96), 100, np.uint8))
        files["lips"] = lips
        pool.append(files)
    rows = []
    for m in range(mixtures):
        files, mid = pool[m % distinct], f"tt{m:05d}"
        links = {}
        for kind in ("mix", "s1", "s2"):
            links[kind] = root / "wav16k" / "min" / "tt" / kind / f"{mid}.wav"
        for k in (1, 2):
            links[f"lips{k}"] = root / "lips" / f"{mid}_s{k}.npz"
            links[f"est{k}"] = root / "estimates" / mid / f"s{k}.wav"
        for name, path in links.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            src = files["lips"] if name.startswith("lips") else (
                files["mix"] if name.startswith("est") else files[name])
            os.link(src, path)
        rel = lambda p: str(Path("..") / p.relative_to(root))  # noqa: E731
        rows.append({"mixture_id": mid, "mix_path": rel(links["mix"]),
                     "num_samples": int(RATE * SECONDS), "sample_rate": RATE,
                     **{f"s{k}_{field}": value for k in (1, 2) for field, value in (
                         ("path", rel(links[f"s{k}"])), ("utt", f"{mid}_u{k}"),
                         ("speaker", f"spk{k}"), ("gain_db", 0.0),
                         ("lips", rel(links[f"lips{k}"])), ("source", f"synthetic/{mid}_{k}"))}})
    write_manifest(pd.DataFrame(rows), root / "manifests" / "tt.csv")
    return root


def timed(label: str, fn, rows: list[dict], **extra) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    row = {"run": label, "wall_s": round(time.perf_counter() - start, 2),
           "main_process_cpu_s": round(time.process_time() - cpu, 2),
           "loadavg_1min": round(os.getloadavg()[0], 2), **extra}
    rows.append(row)
    print(json.dumps(row), file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=3000)
    parser.add_argument("--distinct", type=int, default=40)
    parser.add_argument("--per-metric", type=int, default=300,
                        help="mixtures scored by each metric alone (extrapolated)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["score", "metrics", "evaluate"])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    from avss_bench.core.runtime import configure_process

    configure_process()
    from avss_bench.evaluate.run import evaluate
    from avss_bench.evaluate.scoring import score_split

    work = args.workdir or Path(tempfile.mkdtemp(prefix="score-split-"))
    if work.exists():
        shutil.rmtree(work)
    t0 = time.perf_counter()
    data = build_split(work / "data", args.mixtures, args.distinct)
    manifest = data / "manifests" / "tt.csv"
    print(f"split of {args.mixtures} mixtures built in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    rows: list[dict] = []
    est = data / "estimates"
    if "score" not in args.skip:
        for label in ("baselines computed", "baselines cached"):
            timed(f"score --manifest si_snr,sdr --jobs {args.jobs} ({label})",
                  lambda label=label: score_split(
                      manifest, est, work / "score" / label.split()[1], jobs=args.jobs,
                      metrics=("si_snr", "sdr"), quiet=True,
                      baseline_cache=work / "score" / "baselines"), rows,
                  mixtures=args.mixtures, scale=1.0)
    if "metrics" not in args.skip:
        subset = data / "manifests" / "subset.csv"  # paths stay relative to manifests/
        frame = pd.read_csv(manifest)
        frame.head(args.per_metric).to_csv(subset, index=False)
        scale = args.mixtures / min(args.per_metric, args.mixtures)
        for metric in ("si_snr", "sdr", "pesq", "stoi"):
            timed(f"score --manifest {metric} --jobs {args.jobs}",
                  lambda metric=metric: score_split(
                      subset, est, work / "metric" / metric, jobs=args.jobs,
                      metrics=(metric,), quiet=True,
                      baseline_cache=work / "metric" / metric / "baselines"), rows,
                  mixtures=min(args.per_metric, args.mixtures), scale=scale)
    if "evaluate" not in args.skip:
        timed("evaluate --model mixture si_snr,sdr (one process)",
              lambda: evaluate("mixture", None, data, split="tt", out_dir=work / "evaluate",
                               metrics=("si_snr", "sdr"), quiet=True), rows,
              mixtures=args.mixtures, scale=1.0)
    print(f"| run | mixtures timed | wall s | wall for {args.mixtures} (min) | load avg |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['mixtures']} | {r['wall_s']:.1f} | "
              f"{r['wall_s'] * r['scale'] / 60:.2f} | {r['loadavg_1min']} |")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
