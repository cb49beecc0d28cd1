"""Lip stage of a corpus variant with and without the mouth-ROI store (`avss_bench.lips.store`).

Prepares the shared LRS2 miniature (its own lists, every split, lips included) three times in
one process, each into a fresh folder:

1. `clean`, into an empty store: every clip is decoded, tracked and cropped (and stored);
2. `noisy, no store` (`--lips-store off`): the noisy variant as before the store, every clip
   extracted again;
3. `noisy, store`: the same noisy variant reading the store filled by 1.

and reports each run's lip-stage time (wall, from `report.json`), the process CPU time of the
stage, the clips reused, and whether the variant's `lips/*.npz` are byte-identical to the clean
run's. The noise corpus is a WHAM!-layout miniature built from `../shared/data/noise`.

    python benchmarks/lips_reuse.py --out /tmp/lips-reuse
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def lip_hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "lips").glob("*.npz"))}


def noise_corpus(folder: Path) -> Path:
    import soundfile as sf

    x, rate = sf.read(str(SHARED / "noise" / "speechbrain" / "noise3.wav"), dtype="int16")
    for split in ("tr", "cv", "tt"):
        (folder / "wham_noise" / split).mkdir(parents=True, exist_ok=True)
        sf.write(str(folder / "wham_noise" / split / f"{split}_noise.wav"), x, rate,
                 subtype="PCM_16")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/lips-reuse"))
    parser.add_argument("--corpus", default="lrs2", choices=["lrs2", "lrs3", "vox2"])
    args = parser.parse_args()

    from avss_bench.core.runtime import configure_process

    configure_process()
    from avss_bench.prepare import prepare_corpus
    from avss_bench.prepare.conditions import Conditions

    if args.out.exists():
        shutil.rmtree(args.out)
    store = args.out / "store"
    noise = noise_corpus(args.out / "noise")
    corpus = SHARED / "corpus" / args.corpus
    common = dict(mix_list=corpus, landmarker=SHARED / "models" / "face_landmarker.task",
                  quiet=True)
    runs = [("clean, empty store", "clean", store, None),
            ("noisy, no store (before)", "noisy-off", "off", Conditions(noise_dir=str(noise))),
            ("noisy, store (now)", "noisy-store", store, Conditions(noise_dir=str(noise)))]
    rows = []
    for label, folder, lips_store, conditions in runs:
        out = args.out / folder
        cpu0, t0 = time.process_time(), time.perf_counter()
        report = prepare_corpus(args.corpus, corpus, out, lips_store=lips_store,
                                conditions=conditions, **common)
        rows.append({"run": label, "lips_s": report["timings_s"]["lips"],
                     "total_s": round(time.perf_counter() - t0, 3),
                     "process_cpu_s": round(time.process_time() - cpu0, 3),
                     "lips_ok": report["utterances"]["lips_ok"],
                     "lip_files": len(lip_hashes(out))})
    clean = lip_hashes(args.out / "clean")
    for row, (_, folder, _, _) in zip(rows, runs, strict=True):
        row["identical_to_clean"] = lip_hashes(args.out / folder) == clean
    load = os.getloadavg()
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in load]}),
          file=sys.stderr)
    print("| run | lip stage s (wall) | prepare s (wall) | process CPU s | lip files | "
          "bytes = clean |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['run']} | {r['lips_s']:.2f} | {r['total_s']:.2f} | {r['process_cpu_s']:.2f}"
              f" | {r['lip_files']} | {r['identical_to_clean']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
