"""Stage 5: one manifest per split (the Manifest contract) and no stray mixture files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.corpora.base import Corpus
from avss_bench.io.manifest import MANIFEST_COLUMNS, write_manifest
from avss_bench.prepare.mixlist import MixLine
from avss_bench.prepare.mixtures import MixJob
from avss_bench.prepare.records import Layout, PrepareState


def write_split_manifest(corp: Corpus, layout: Layout, split: str,
                          kept: Iterable[tuple[MixLine, MixJob]], state: PrepareState,
                          skip_lips: bool) -> None:
    import pandas as pd

    rows = []
    for line, job in kept:
        row: dict = {
            "mixture_id": job.name,
            "mix_path": f"../wav16k/min/{split}/mix/{job.name}.wav",
            "num_samples": job.num_samples,
            "sample_rate": SAMPLE_RATE,
        }
        for k, utt, gain in ((1, job.s1_utt, job.gain1), (2, job.s2_utt, job.gain2)):
            located = state.located[utt]
            assert located is not None
            row.update({
                f"s{k}_path": f"../wav16k/min/{split}/s{k}/{job.name}.wav",
                f"s{k}_utt": utt,
                f"s{k}_speaker": located.speaker,
                f"s{k}_gain_db": gain,
                f"s{k}_lips": "" if skip_lips else f"../lips/{utt}.npz",
                f"s{k}_source": located.video,
            })
        for k, utt in ((1, job.s1_utt), (2, job.s2_utt)):
            row[f"s{k}_source_samples"] = state.audio[utt]["num_samples"]
            row[f"s{k}_lip_frames"] = 0 if skip_lips else state.lips[utt]["frames"]
        row["list_line"] = line.index
        rows.append(row)
    extra = [f"s{k}_{f}" for k in (1, 2) for f in ("source_samples", "lip_frames")]
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS) + extra + ["list_line"])
    write_manifest(frame, layout.manifest(split))


def remove_strays(layout: Layout, splits: Sequence[str],
                   kept: Mapping[str, list[tuple[MixLine, MixJob]]]) -> None:
    """Delete mixture files no manifest row names: written by a shard before another shard's
    lips failed, or by an earlier `--skip-lips` run whose mixtures now lack lips."""
    for split in splits:
        names = {job.name for _, job in kept[split]}
        for kind in ("mix", "s1", "s2"):
            folder = layout.out / "wav16k" / "min" / split / kind
            if folder.is_dir():
                for wav in folder.glob("*.wav"):
                    if wav.stem not in names:
                        wav.unlink()


