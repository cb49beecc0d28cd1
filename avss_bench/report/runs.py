"""What a report is made of: the leaderboard groups and, per evaluation, its summary, its
per-utterance results and where its audio lives; and the robustness runs found beside them.

The leaderboard comes from `evaluate.leaderboard` (`collect` + `group_entries`), exactly as
`avss-bench table` builds it: one table per test set. An evaluation that is a point of an
`avss-bench robustness` grid (its folder holds `condition.json`) is not a leaderboard row: the
report shows the robustness runs in their own section, from their `robustness.csv`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from avss_bench.core.errors import AvssError
from avss_bench.evaluate.leaderboard import Entry, Group, collect, find_summaries, group_entries
from avss_bench.evaluate.results import read_results, read_summary
from avss_bench.robustness.run import CONDITION_FILE
from avss_bench.robustness.run import CSV as ROBUSTNESS_CSV

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


def gather(paths: list[Path], reported: bool = True
           ) -> tuple[list[Run], list[Group], list[Path]]:
    """Our leaderboard runs (in the order found), their tables (with the published rows of
    the official sets present when `reported`), and the robustness folders found."""
    summaries = find_summaries(paths)
    grid_points = [p for p in summaries if (p.parent / CONDITION_FILE).is_file()]
    plain = [p for p in summaries if p not in grid_points]
    robustness = sorted({p.parent.parent.parent for p in grid_points
                         if (p.parent.parent.parent / ROBUSTNESS_CSV).is_file()})
    if not plain and not robustness:
        raise AvssError("no summary.json found (run `avss-bench evaluate` first)",
                        paths[0] if paths else None)
    entries = collect(plain) if plain else []
    runs = [_read_run(e) for e in entries]
    return runs, group_entries(entries, reported=reported), robustness


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
