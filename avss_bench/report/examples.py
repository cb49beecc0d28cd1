"""The example browser's content: which targets to show and their audio, spectrograms, lips.

Chosen from the first run's whole scored distribution (`evaluate.examples.choose_examples`: the
best, median and worst SI-SNRi of all its scored targets, the targets `evaluate --save-audio`
keeps the estimates of), plus any ids the user names (`MIXTURE_ID` for both targets, or
`MIXTURE_ID_s1`); each is labelled with what it was chosen from. Every run on the same data shows
its estimate where it kept one, and its scores always. Audio is copied into the site as 16-bit
PCM WAV (every browser plays it), estimates peak-limited to [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.data.lengths import lips_for
from avss_bench.evaluate.examples import choose_examples
from avss_bench.io.audio import read_audio, write_wav
from avss_bench.io.manifest import manifest_path, read_manifest, resolve_path
from avss_bench.report import figures
from avss_bench.report.runs import Run


@dataclass
class Clip:
    """One playable signal in the site: its WAV and spectrogram (paths relative to the site)."""

    label: str
    audio: str | None
    spectrogram: str | None
    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Example:
    mixture_id: str
    target: str
    why: str
    mixture: Clip
    reference: Clip
    lips: str | None
    estimates: list[Clip]


def choose(first: Run, requested: list[str]) -> list[tuple[str, str, str]]:
    """``(mixture_id, target, why)`` for best / median / worst and the requested ids."""
    frame = first.results
    picks = [(p["mixture_id"], p["target"], p["why"])
             for p in choose_examples(frame, 3, who=first.entry.method)]
    keys = {f"{m}_{t}": (m, t) for m, t in zip(frame["mixture_id"], frame["target"],
                                                 strict=True)}
    for wanted in requested:
        matches = [k for k in keys.values() if wanted in (k[0], f"{k[0]}_{k[1]}")]
        if not matches:
            raise AvssError(f"example id '{wanted}' is not a mixture or target of this "
                            "evaluation", first.folder / "results.csv")
        picks += [(m, t, "requested") for m, t in matches]
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    for pick in picks:
        if (pick[0], pick[1]) in seen:
            old = seen[(pick[0], pick[1])]
            seen[(pick[0], pick[1])] = (old[0], old[1], f"{old[2]}; {pick[2]}")
        else:
            seen[(pick[0], pick[1])] = pick
    return list(seen.values())


def _scores(run: Run, mixture_id: str, target: str) -> tuple[dict[str, float], dict[str, str]]:
    frame = run.results
    rows = frame[(frame["mixture_id"] == mixture_id) & (frame["target"] == target)]
    if not len(rows):
        return {}, {}
    row = rows.iloc[0]
    scores = {m: float(row[m]) for m in run.metrics}
    errors = {m: str(row[f"{m}_error"]) for m in run.metrics
              if f"{m}_error" in row and isinstance(row[f"{m}_error"], str)}
    return scores, errors


def _clip(signal: np.ndarray, site: Path, rel: str, title: str) -> Clip:
    peak = max(1.0, float(np.abs(signal).max()) if signal.size else 1.0)
    pcm = np.round(np.clip(signal / peak, -1, 1) * 32767).astype(np.int16)
    (site / rel).parent.mkdir(parents=True, exist_ok=True)
    write_wav(site / f"{rel}.wav", pcm, SAMPLE_RATE)
    figures.spectrogram(signal, SAMPLE_RATE, site / f"{rel}.png", title)
    return Clip(title, f"{rel}.wav", f"{rel}.png")


def build(runs: list[Run], site: Path, requested: list[str]) -> list[Example]:
    """Write the chosen examples' audio and images under ``site/examples/``."""
    first = runs[0]
    data, split = first.summary.get("data"), first.summary.get("split", "tt")
    try:
        manifest = manifest_path(data, split)
        rows = read_manifest(manifest).set_index("mixture_id")
    except (AvssError, OSError, TypeError):
        return []  # the prepared data moved: no audio to show
    peers = [r for r in runs if r.summary.get("data") == data and r.summary.get("split") == split]
    examples = []
    for number, (mixture_id, target, why) in enumerate(choose(first, requested)):
        row = rows.loc[mixture_id]
        base = f"examples/{number:02d}_{mixture_id}_{target}"
        mix_audio = read_audio(resolve_path(manifest, row["mix_path"]))[0]
        mixture = _clip(mix_audio, site, f"{base}/mixture", "mixture")
        reference = _clip(read_audio(resolve_path(manifest, row[f"{target}_path"]))[0], site,
                          f"{base}/reference", f"reference ({target})")
        lips = None
        lips_column = f"{target}_lips"
        if lips_column in row and isinstance(row[lips_column], str):
            with np.load(resolve_path(manifest, row[lips_column])) as npz:
                frames = lips_for(npz[npz.files[0]], len(mix_audio))  # the mixture's frames
            lips = f"{base}/lips.png"
            figures.lip_strip(frames, site / lips)
        estimates = []
        for index, run in enumerate(peers):
            scores, errors = _scores(run, mixture_id, target)
            wav = run.example_wav(mixture_id, target)
            if wav is None:
                clip = Clip(run.entry.method, None, None,
                            note="estimate not kept (evaluate --save-audio N keeps N of this "
                                 "run's own best, median and worst)")
            else:
                clip = _clip(read_audio(wav)[0], site, f"{base}/estimate{index}",
                             run.entry.method)
            clip.scores, clip.errors = scores, errors
            estimates.append(clip)
        examples.append(Example(mixture_id, target, why, mixture, reference, lips, estimates))
    return examples


def fmt(value: Any) -> str:
    """A score for the page: 2 decimals (3 below 1.5 in magnitude), n/a when not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.3f}" if abs(value) < 1.5 else f"{value:.2f}"
