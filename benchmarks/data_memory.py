"""DataLoader worker memory over an LRS2-size manifest: does RSS stay flat as items stream by?

Builds a prepared-corpus layout with `--mixtures` rows (default 20,000, LRS2-2Mix's training
split size) whose files are hard links to a few real 2 s wavs and lip ROI files (so it costs a
few MB of disk), then iterates a `TargetSpeakerDataset` through a DataLoader with `--workers`
workers for `--items` items and records each worker's resident set size every `--every` items.

    python benchmarks/data_memory.py --mixtures 20000 --items 2000 --workers 2

Prints a Markdown table (RSS per worker in MB at each checkpoint) and the growth first -> last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from avss_bench.data.dataset import TargetSpeakerDataset
from avss_bench.io.manifest import write_manifest

RATE, FPS, SECONDS, DISTINCT = 16000, 25, 2.0, 4


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_corpus(root: Path, mixtures: int) -> Path:
    """`root/manifests/tr.csv` with `mixtures` rows of hard-linked files; returns the manifest."""
    import pandas as pd

    rng = np.random.default_rng(0)
    samples, frames = int(SECONDS * RATE), int(SECONDS * FPS)
    real = root / "real"
    real.mkdir(parents=True)
    for k in range(DISTINCT):
        sf.write(real / f"{k}.wav", (0.1 * rng.standard_normal(samples)).astype(np.float32),
                 RATE, subtype="PCM_16")
        np.savez_compressed(real / f"{k}.npz",
                            data=rng.integers(0, 256, (frames, 96, 96), dtype=np.uint8))
    rows = []
    for index in range(mixtures):
        mid = f"m{index:05d}"
        folder = root / "files" / mid[:4]
        folder.mkdir(parents=True, exist_ok=True)
        row = {"mixture_id": mid, "num_samples": samples, "sample_rate": RATE}
        for name, suffix in (("mix", "wav"), ("s1", "wav"), ("s2", "wav"), ("l1", "npz"),
                             ("l2", "npz")):
            link = folder / f"{mid}_{name}.{suffix}"
            os.link(real / f"{index % DISTINCT}.{suffix}", link)
            row[{"mix": "mix_path", "s1": "s1_path", "s2": "s2_path", "l1": "s1_lips",
                 "l2": "s2_lips"}[name]] = os.path.relpath(link, root / "manifests")
        for k in (1, 2):
            row.update({f"s{k}_utt": f"{mid}_{k}", f"s{k}_speaker": f"spk{k}",
                        f"s{k}_gain_db": 0.0, f"s{k}_source": f"{mid}_{k}"})
        rows.append(row)
    manifest = root / "manifests" / "tr.csv"
    manifest.parent.mkdir(parents=True)
    write_manifest(pd.DataFrame(rows), manifest)
    return manifest


class _WithRss(Dataset):
    """Each item is (worker pid, RSS in MB after loading the item)."""

    def __init__(self, inner: TargetSpeakerDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> tuple[int, float]:
        self.inner[index]
        return os.getpid(), _rss_mb()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=250)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        manifest = build_corpus(Path(tmp), args.mixtures)
        dataset = TargetSpeakerDataset(manifest, segment_s=2.0, train=True)
        built = time.monotonic() - started
        loader = DataLoader(_WithRss(dataset), batch_size=None, num_workers=args.workers,
                            shuffle=False)
        per_worker: dict[int, list[tuple[int, float]]] = {}
        for seen, (pid, rss) in enumerate(loader, start=1):
            per_worker.setdefault(int(pid), []).append((seen, float(rss)))
            if seen >= args.items:
                break
    print(f"{args.mixtures} mixtures ({len(dataset)} targets), {args.items} items, "
          f"{args.workers} workers; corpus built in {built:.1f} s; RSS in MB\n")
    pids = sorted(per_worker)
    print("| items seen | " + " | ".join(f"worker {i}" for i in range(len(pids))) + " |")
    print("|---:|" + "---:|" * len(pids))
    marks = sorted({1, *range(args.every, args.items + 1, args.every)})
    for mark in marks:
        cells = []
        for pid in pids:
            upto = [rss for seen, rss in per_worker[pid] if seen <= mark]
            cells.append(f"{upto[-1]:.1f}" if upto else "–")
        print(f"| {mark} | " + " | ".join(cells) + " |")
    growth = [per_worker[p][-1][1] - per_worker[p][0][1] for p in pids]
    print("\ngrowth first -> last item per worker (MB): "
          + ", ".join(f"{g:+.1f}" for g in growth))


if __name__ == "__main__":
    sys.exit(main())
