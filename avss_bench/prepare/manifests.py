"""Stage 5: one manifest per split (the Manifest contract) and no stray mixture files."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.corpora.base import Corpus
from avss_bench.io.manifest import MANIFEST_COLUMNS, write_manifest
from avss_bench.prepare.mixlist import MixLine
from avss_bench.prepare.mixtures import MixJob
from avss_bench.prepare.records import Layout, PrepareState
from avss_bench.prepare.reverb import EARLY_MS


def write_split_manifest(corp: Corpus, layout: Layout, split: str,
                          kept: Iterable[tuple[MixLine, MixJob]], state: PrepareState,
                          skip_lips: bool) -> None:
    import pandas as pd

    rows = []
    n_src = 2
    for line, job in kept:
        row: dict = {
            "mixture_id": job.name,
            "mix_path": f"../wav16k/min/{split}/mix/{job.name}.wav",
            "num_samples": job.num_samples,
            "sample_rate": SAMPLE_RATE,
        }
        utts = line.utts
        gains = line.gains_db
        n_src = len(utts)
        for k, (utt, gain) in enumerate(zip(utts, gains, strict=True), start=1):
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
        for k, utt in enumerate(utts, start=1):
            row[f"s{k}_source_samples"] = state.audio[utt]["num_samples"]
            row[f"s{k}_lip_frames"] = 0 if skip_lips else state.lips[utt]["frames"]
        row["list_line"] = line.index
        row.update(_condition_columns(split, job, line.condition, state, skip_lips))
        rows.append(row)
    fields = ("path", "utt", "speaker", "gain_db", "lips", "source")
    extra = [f"s{k}_{f}" for k in range(3, n_src + 1) for f in fields]
    extra += [f"s{k}_{f}" for k in range(1, n_src + 1) for f in ("source_samples", "lip_frames")]
    extra += ["list_line"]
    extra += [c for c in (rows[0] if rows else {}) if c not in extra and c not in MANIFEST_COLUMNS]
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS) + extra)
    write_manifest(frame, layout.manifest(split))


def _condition_columns(split: str, job: MixJob, condition, state: PrepareState,
                       skip_lips: bool) -> dict:
    """The manifest columns of a robustness condition (none for the clean benchmark)."""
    if condition is None:
        return {}
    cols: dict = {}
    if condition.noise_file:
        cols.update(noise_path=f"../wav16k/min/{split}/noise/{job.name}.wav",
                    mix_clean_path=f"../wav16k/min/{split}/mix_clean/{job.name}.wav",
                    noise_file=condition.noise_file, noise_offset=condition.noise_offset,
                    snr_db=condition.snr_db)
    if condition.rir_files or condition.room:
        cols["reverb_reference"] = f"early_{EARLY_MS:g}ms"
        for k in range(1, job.speakers + 1):
            cols[f"s{k}_reverb_path"] = f"../wav16k/min/{split}/s{k}_reverb/{job.name}.wav"
        if condition.rir_files:
            cols["rir_files"] = ";".join(condition.rir_files)
        if condition.room:
            room = json.loads(condition.room)
            cols.update(rt60=room["rt60"], room=condition.room)
    if condition.absent_utt:
        utt = condition.absent_utt
        located = state.located[utt]
        cols.update(absent_utt=utt, absent_speaker=located.speaker if located else "",
                    absent_lips="" if skip_lips else f"../lips/{utt}.npz",
                    absent_source=located.video if located else "")
    return cols


def remove_strays(layout: Layout, splits: Sequence[str],
                   kept: Mapping[str, list[tuple[MixLine, MixJob]]]) -> None:
    """Delete mixture files no manifest row names: written by a shard before another shard's
    lips failed, or by an earlier `--skip-lips` run whose mixtures now lack lips."""
    for split in splits:
        names = {job.name for _, job in kept[split]}
        root = layout.out / "wav16k" / "min" / split
        for folder in (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []):
            if folder.is_dir():
                for wav in folder.glob("*.wav"):
                    if wav.stem not in names:
                        wav.unlink()


