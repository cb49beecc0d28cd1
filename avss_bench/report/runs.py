"""What a report is made of: the leaderboard entries and, per evaluation, its summary, its
per-utterance results and where its audio lives.

The leaderboard rows come from `evaluate.leaderboard` (`collect` + `with_reported`), exactly as
`avss-bench table` builds them; this module only adds what the page needs beside each row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from avss_bench.evaluate.leaderboard import (
    DATASET_NAMES,
    Entry,
    collect,
    read_reported,
    with_reported,
)
from avss_bench.evaluate.results import read_results, read_summary

KEY = ("mixture_id", "target")


@dataclass
class Run:
    """One evaluation folder: its leaderboard entry, summary and per-target results."""

    entry: Entry
    folder: Path
    summary: dict[str, Any]
    results: pd.DataFrame
    profile: dict[str, Any] | None = None
    metrics: list[str] = field(default_factory=list)

    def example_wav(self, mixture_id: str, target: str) -> Path | None:
        """The estimate `evaluate --save-audio` kept for this target, if any."""
        path = self.folder / "examples" / f"{mixture_id}_{target}.wav"
        return path if path.is_file() else None


def _read_run(entry: Entry) -> Run:
    folder = Path(entry.run)
    summary = read_summary(folder)
    results = read_results(folder)
    metrics = [c for c in results.columns if c not in KEY and not c.endswith("_error")
               and pd.api.types.is_numeric_dtype(results[c])]
    profile_path = folder / "profile.json"
    profile = json.loads(profile_path.read_text()) if profile_path.is_file() else None
    return Run(entry, folder, summary, results, profile, metrics)


def gather(paths: list[Path]) -> tuple[list[Run], list[Entry]]:
    """Our runs (in the order found) and the full leaderboard with the published rows."""
    entries = collect(paths)
    runs = [_read_run(e) for e in entries]
    return runs, with_reported(entries)


def reported_sources(datasets: list[str]) -> dict[tuple[str, str], str]:
    """``{(row label, dataset): citation}`` of the published rows (their provenance)."""
    labels = list(dict.fromkeys(datasets + list(DATASET_NAMES.values())))
    return {(f"{e.method} (reported)", e.dataset): e.source
            for d in labels for e in read_reported(d)}


def failures(run: Run) -> dict[str, int]:
    """Failed values per metric (NaN in results.csv), only the metrics with any."""
    out = {}
    for name in run.metrics:
        count = int(run.results[name].isna().sum())
        if count:
            out[name] = count
    return out


def dnsmos_stat(run: Run) -> tuple[float, float | None] | None:
    """DNSMOS OVRL mean and 95% CI half-width from the summary, when it was computed."""
    raw = run.summary.get("metrics", {}).get("dnsmos_ovrl")
    if not raw or raw.get("mean") is None:
        return None
    low, high = raw.get("ci95") or (None, None)
    half = None if low is None or high is None else (float(high) - float(low)) / 2
    mean = float(raw["mean"])
    return (mean, half) if math.isfinite(mean) else None
