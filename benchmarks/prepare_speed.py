"""Speed of `avss-bench prepare` per core, per stage, on the shared miniatures; LRS2-2Mix estimate.

Pins the process to one CPU core (MediaPipe's and BLAS's threads share it), prepares the shared
LRS2/LRS3/VoxCeleb2 miniatures with their own lists, then times each stage on its own, best of
`--repeats` passes:

* sources: decode the first 2 s of a clip, P.56 level of its 8 kHz copy, write the 2 s WAV;
* mixing: read the two 2 s sources, mix (exact recipe), write mix/s1/s2 (what `prepare`'s mix
  stage does per mixture: the levels were measured in the sources stage);
* lips: decode the clip, FaceLandmarker on the 2 s (+11 look-ahead frames for the 12-frame
  smoothing window), crops, npz write; frames/s counts the 25-fps frames written.

The LRS2-2Mix estimate multiplies by the official lists' sizes (28,000 mixtures; 19,434
distinct utterances of 2 s = 50 frames each) and divides by the cores, assuming the stages
scale linearly over processes (they share nothing but the disk).

    python benchmarks/prepare_speed.py [--core 0] [--repeats 3] [--cores 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LRS2_MIXTURES = 20000 + 5000 + 3000
LRS2_UTTERANCES = 18691 + 476 + 267  # distinct utterances of the official tr/cv/tt lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--landmarker", type=Path,
                        default=SHARED / "models" / "face_landmarker.task")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: none)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=16, help="cores of the extrapolation")
    args = parser.parse_args()
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import json

    import numpy as np
    import pandas as pd

    from avss_bench.corpora import get_corpus
    from avss_bench.prepare.pipeline import (
        MixJob,
        lips_batch,
        mix_batch,
        prepare_corpus,
        source_batch,
    )

    work = Path(tempfile.mkdtemp(prefix="avss-prepare-speed-"))
    try:
        corpora = ("lrs2", "lrs3", "vox2")
        # end to end, lips included, one core
        start = time.perf_counter()
        for name in corpora:
            prepare_corpus(name, args.corpus / name, work / "e2e" / name,
                           mix_list=args.corpus / name, landmarker=args.landmarker, quiet=True)
        e2e = time.perf_counter() - start

        utts, jobs, levels, lip_items = {}, [], {}, []
        for name in corpora:
            corpus = get_corpus(name, args.corpus / name)
            out = work / "e2e" / name
            for split in ("tr", "cv", "tt"):
                for row in pd.read_csv(out / "manifests" / f"{split}.csv").itertuples():
                    jobs.append((name, (split, row)))
            for status in sorted((out / ".status" / "audio").glob("*.json")):
                record = json.loads(status.read_text())
                located = corpus.locate(record["utt"])
                utts.setdefault(name, []).append(located)
                if record.get("ok"):
                    levels[record["utt"]] = record["level"]
                    lip_items.append((name, located, record["num_samples"]))

        mixes = {name: [MixJob(split, r.mixture_id, r.s1_utt, r.s1_gain_db, r.s2_utt,
                               r.s2_gain_db, r.num_samples, levels[r.s1_utt],
                               levels[r.s2_utt])
                        for corpus, (split, r) in jobs if corpus == name] for name in corpora}

        def best(fn) -> tuple[float, float]:
            """Best wall time and best CPU time (this process, all its threads) of the passes."""
            walls, cpus = [], []
            for i in range(args.repeats):
                target = work / f"pass{i}"
                start, cpu = time.perf_counter(), time.process_time()
                fn(target)
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
                shutil.rmtree(target, ignore_errors=True)
            return min(walls), min(cpus)

        def sources(target: Path) -> None:
            for name, items in utts.items():
                source_batch(str(args.corpus / name), items, str(target / name), 2.0, 0.0)

        def mixing(target: Path) -> None:
            for name in corpora:  # read the 2 s sources where the end-to-end run left them
                raw = work / "e2e" / name / "raw_audio"
                (target / name).mkdir(parents=True, exist_ok=True)
                os.symlink(raw, target / name / "raw_audio")
                mix_batch(str(target / name), mixes[name])

        def lips(target: Path) -> None:
            for name in corpora:
                mine = [(u, n) for c, u, n in lip_items if c == name]
                lips_batch(str(args.corpus / name), mine, str(target / name),
                            str(args.landmarker))

        n_sources = sum(len(v) for v in utts.values())
        t_sources = best(sources)
        t_mix = best(mixing)
        t_lips = best(lips)
        frames = 0
        for name in corpora:
            for npz in (work / "e2e" / name / "lips").glob("*.npz"):
                frames += np.load(npz)["data"].shape[0]
        pin = "" if args.core < 0 else f", pinned to cpu {args.core}"
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
        print(f"| stage (1 core{pin}) | items | wall s | CPU s | rate per core (wall) "
              "| rate per core (CPU) |")
        print("|---|---|---|---|---|---|")
        rows = (("sources (decode 2 s, P.56 level, write)", n_sources, "clips", t_sources,
                 "sources/s"),
                ("mixing (read 2 sources, mix, write 3)", len(jobs), "mixtures", t_mix,
                 "mixtures/s"),
                ("lips (decode, FaceLandmarker, crop, npz)", frames, "frames", t_lips,
                 "frames/s"))
        rates = {}
        for label, n, unit, (wall, cpu), rate_unit in rows:
            rates[unit] = (n / wall, n / cpu)
            print(f"| {label} | {n} {unit} | {wall:.3f} | {cpu:.3f} | {n / wall:.0f} {rate_unit} "
                  f"| {n / cpu:.0f} {rate_unit} |")
        print(f"| end to end: 3 miniatures, lips included | {len(jobs)} mixtures | {e2e:.1f} | "
              "| | |")
        print()
        for i, basis in enumerate(("wall", "CPU")):
            parts = {"sources": LRS2_UTTERANCES / rates["clips"][i],
                     "mixing": LRS2_MIXTURES / rates["mixtures"][i],
                     "lips": LRS2_UTTERANCES * 50 / rates["frames"][i]}
            total = sum(parts.values())
            detail = ", ".join(f"{k} {v / 60:.1f}" for k, v in parts.items())
            print(f"LRS2-2Mix ({LRS2_MIXTURES} mixtures, {LRS2_UTTERANCES} utterances x 50 "
                  f"frames), {basis} rates: {total / 3600:.2f} core-hours ({detail} "
                  f"core-minutes) -> {total / args.cores / 60:.1f} min on {args.cores} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
