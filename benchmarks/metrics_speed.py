"""Speed of the metrics engine against mir_eval / fast_bss_eval / pesq / pystoi, same inputs.

Part 1 (per utterance): every 16 kHz two-speaker case of ../shared/data/metrics, each metric
timed as the best of --repeats runs, single-threaded, in CPU (process) time because the
machine may be shared; ours and the reference libraries on the same arrays, with the largest
disagreement. Part 2 (whole split): a synthetic split of --mixtures 2-second mixtures (cut
from those cases) scored by `score_split` with --jobs, first with the mixture baselines
computed, then (a "second model") with them cached; the wall time for a 3000-mixture x
2-target split is extrapolated from it, and (jobs=1) from its CPU time for 2 idle cores.

    python benchmarks/metrics_speed.py --repeats 5 --mixtures 120 --jobs 1 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import soundfile as sf  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from avss_bench.evaluate.scoring import score_split  # noqa: E402
from avss_bench.metrics import estoi, pesq, score_utterance, sdr, si_snr_matrix, stoi  # noqa: E402
from avss_bench.metrics.bss_eval import ReferenceSet  # noqa: E402
from avss_bench.metrics.si_snr import best_permutation  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "metrics"


def best_time(fn, repeats: int) -> tuple[float, object]:
    """Best-of-N CPU time of ``fn()`` (process time: robust to other jobs on a shared machine;
    everything runs on one thread, so it equals the wall time of an idle machine)."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return min(times), out


def load_cases() -> list[dict]:
    cases = []
    for folder in sorted(p for p in SHARED.glob("c*") if p.is_dir()):
        def read(name: str, folder: Path = folder) -> np.ndarray:
            return sf.read(folder / name, dtype="float64")[0]

        rate = sf.info(folder / "mixture.wav").samplerate
        refs = np.stack([read("s1.wav"), read("s2.wav")])
        if rate != 16000 or not np.all(np.any(refs, axis=1)):
            continue  # 16 kHz, BSS-Eval-defined cases only (mir_eval refuses silent sources)
        cases.append({"name": folder.name, "refs": refs, "mix": read("mixture.wav"),
                      "ests": np.stack([read("est1.wav"), read("est2.wav")])})
    return cases


def per_utterance(cases: list[dict], repeats: int) -> list[dict]:
    rows: dict[str, dict] = {}

    def add(metric: str, impl: str, seconds: float, diff: float | None = None) -> None:
        row = rows.setdefault(f"{metric}|{impl}", {"metric": metric, "impl": impl, "t": [],
                                                   "diff": 0.0})
        row["t"].append(seconds)
        if diff is not None:
            row["diff"] = max(row["diff"], diff)

    warnings.simplefilter("ignore", FutureWarning)
    for c in cases:
        _time_case(c["name"], c["refs"], c["ests"], c["mix"], repeats, add)
    out = []
    for row in rows.values():
        out.append({"metric": row["metric"], "impl": row["impl"],
                    "ms_mean": 1e3 * float(np.mean(row["t"])), "max_abs_diff": row["diff"]})
    return out


def _time_case(name: str, refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, repeats: int,
               add) -> None:
    """Time every metric on one case (ours and the reference library on the same arrays)."""
    import fast_bss_eval
    import mir_eval
    import pesq as pesq_lib
    from pystoi import stoi as pystoi_stoi

    t_ours, ours = best_time(lambda: sdr(ests, refs), repeats)
    t_mir, mir = best_time(lambda: mir_eval.separation.bss_eval_sources(refs, ests),
                           max(1, repeats // 2))
    t_fast, fast = best_time(lambda: fast_bss_eval.bss_eval_sources(refs, ests), repeats)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(ours[:3], mir[:3], strict=True))
    assert list(ours[3]) == list(mir[3]), name
    add("SDR+SIR+SAR, 2 src, with permutation", "avss_bench.sdr", t_ours, diff)
    add("SDR+SIR+SAR, 2 src, with permutation", "mir_eval 0.8.2", t_mir)
    fdiff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(fast[:3], mir[:3], strict=True))
    add("SDR+SIR+SAR, 2 src, with permutation", "fast_bss_eval 0.1.4 (numpy)", t_fast, fdiff)
    # the scorer's path: SDR of 2 fixed pairs + 2 mixture baselines
    perm = best_permutation(si_snr_matrix(ests, refs))
    pairs = [(perm[0], 0), (perm[1], 1), (2, 0), (2, 1)]
    stacked = np.concatenate([ests, mix[None]])
    t_pairs, got = best_time(lambda: ReferenceSet(refs).target_sdr(stacked, pairs), repeats)
    t_fsdr, fsdr = best_time(
        lambda: (fast_bss_eval.sdr(refs, ests), fast_bss_eval.sdr(refs, np.stack([mix, mix]))),
        repeats)
    add("SDR only: 2 targets + 2 mixture baselines", "avss_bench (ReferenceSet)", t_pairs,
        float(np.max(np.abs(got - np.concatenate(fsdr)))))
    add("SDR only: 2 targets + 2 mixture baselines", "fast_bss_eval.sdr (x2 calls)", t_fsdr)
    t_si, _ = best_time(lambda: best_permutation(si_snr_matrix(ests, refs)), repeats)
    add("SI-SNR matrix + PIT", "avss_bench", t_si)
    for name, ours_fn, lib_fn in (
        ("PESQ wb (1 target)", lambda: pesq(ests[0], refs[0], sample_rate=16000),
         lambda: pesq_lib.pesq(16000, refs[0], ests[0], "wb")),
        ("STOI (1 target)", lambda: stoi(ests[0], refs[0], sample_rate=16000),
         lambda: pystoi_stoi(refs[0], ests[0], 16000)),
        ("ESTOI (1 target)", lambda: estoi(ests[0], refs[0], sample_rate=16000),
         lambda: pystoi_stoi(refs[0], ests[0], 16000, extended=True)),
    ):
        t_a, a = best_time(ours_fn, repeats)
        t_b, b = best_time(lib_fn, repeats)
        add(name, "avss_bench wrapper", t_a, abs(a - b))
        add(name, "library", t_b)
    t_utt, _ = best_time(lambda: score_utterance(ests, refs, mix, 16000), repeats)
    add("score_utterance (2 targets, 4 metrics, baselines)", "avss_bench", t_utt)


def make_split(cases: list[dict], root: Path, n_mix: int, seconds: float = 2.0) -> Path:
    """2-second mixtures cut from the cases at random offsets (seeded), estimates alongside."""
    rng = np.random.default_rng(0)
    length = int(seconds * 16000)
    rows = []
    for i in range(n_mix):
        c = cases[i % len(cases)]
        start = int(rng.integers(0, c["refs"].shape[1] - length + 1))
        cut = slice(start, start + length)
        mixture_id = f"m{i:05d}"
        (root / "wav" / mixture_id).mkdir(parents=True)
        (root / "est" / mixture_id).mkdir(parents=True)
        sf.write(root / "wav" / mixture_id / "mix.wav", c["mix"][cut], 16000, subtype="FLOAT")
        row = {"mixture_id": mixture_id, "mix_path": f"wav/{mixture_id}/mix.wav",
               "num_samples": length, "sample_rate": 16000}
        perm = best_permutation(si_snr_matrix(c["ests"], c["refs"]))
        for k in (1, 2):
            sf.write(root / "wav" / mixture_id / f"s{k}.wav", c["refs"][k - 1, cut], 16000,
                     subtype="FLOAT")
            sf.write(root / "est" / mixture_id / f"s{k}.wav", c["ests"][perm[k - 1], cut], 16000,
                     subtype="FLOAT")
            row |= {f"s{k}_path": f"wav/{mixture_id}/s{k}.wav", f"s{k}_utt": "u",
                    f"s{k}_speaker": "spk", f"s{k}_gain_db": 0.0, f"s{k}_lips": "x.npz",
                    f"s{k}_source": "src"}
        rows.append(row)
    manifest = root / "tt.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def whole_split(cases: list[dict], n_mix: int, jobs_list: list[int]) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = make_split(cases, root, n_mix)
        for jobs in jobs_list:
            for phase in ("baselines computed", "baselines cached"):
                if phase == "baselines computed":
                    shutil.rmtree(root / ".baselines", ignore_errors=True)
                results = root / f"res_{jobs}_{phase[:5]}"
                start, cpu_start = time.perf_counter(), time.process_time()
                score_split(manifest, root / "est", results, jobs=jobs, quiet=True,
                            baseline_cache=root / ".baselines")
                seconds = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
                targets = 2 * n_mix
                row = {"jobs": jobs, "phase": phase, "targets": targets, "seconds": seconds,
                       "targets_per_s": targets / seconds,
                       "extrapolated_3000x2_min": 6000 / (targets / seconds) / 60}
                if jobs == 1:  # all work in this process: its CPU time is the cost
                    row["cpu_ms_per_target"] = 1e3 * cpu / targets
                    row["idle_2core_3000x2_min"] = 6000 * cpu / targets / 2 / 60
                out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mixtures", type=int, default=120)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    cases = load_cases()
    durations = [c["refs"].shape[1] / 16000 for c in cases]
    with threadpool_limits(1):
        utt = per_utterance(cases, args.repeats)
    split = whole_split(cases, args.mixtures, args.jobs)
    load_after = os.getloadavg()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f}")
    print(f"per utterance: {len(cases)} two-speaker 16 kHz cases ({min(durations):.1f}-"
          f"{max(durations):.1f} s), best of {args.repeats} runs, 1 thread, mean over cases\n")
    print("| metric | implementation | CPU ms / utterance | speed-up vs mir_eval | max abs diff |")
    print("|---|---|---:|---:|---:|")
    mir = {r["metric"]: r["ms_mean"] for r in utt if r["impl"].startswith("mir_eval")}
    for r in utt:
        base = mir.get(r["metric"])
        speed = f"{base / r['ms_mean']:.1f}x" if base else ""
        diff = f"{r['max_abs_diff']:.1e}" if r["max_abs_diff"] else ""
        print(f"| {r['metric']} | {r['impl']} | {r['ms_mean']:.2f} | {speed} | {diff} |")
    print(f"\nwhole split: {args.mixtures} mixtures x 2 targets of 2.0 s, si_snr+sdr+pesq+stoi\n")
    print("| jobs | mixture baselines | targets | wall s | targets/s | 3000x2 split, wall here "
          "(min) | CPU ms/target | 3000x2 on 2 idle cores (min) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in split:
        cpu = f"{r['cpu_ms_per_target']:.1f}" if "cpu_ms_per_target" in r else ""
        idle = f"{r['idle_2core_3000x2_min']:.1f}" if "idle_2core_3000x2_min" in r else ""
        print(f"| {r['jobs']} | {r['phase']} | {r['targets']} | {r['seconds']:.1f} | "
              f"{r['targets_per_s']:.1f} | {r['extrapolated_3000x2_min']:.1f} | {cpu} | {idle} |")
    if args.json:
        args.json.write_text(json.dumps({"per_utterance": utt, "split": split,
                                         "load": [load_before, load_after]}, indent=1))


if __name__ == "__main__":
    main()
