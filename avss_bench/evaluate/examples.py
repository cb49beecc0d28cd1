"""The estimates `evaluate --save-audio N` keeps: chosen from the whole scored distribution.

After every target is scored (also when a run resumes), the finite values of the ranking column
(SI-SNRi when it was computed) are sorted from best to worst and N targets are taken at evenly
spaced ranks: the best, the median and the worst first (N = 1: the best; N = 2: best and worst),
then the ranks between. Their estimates are separated again (only those targets, only when the
folder does not hold them yet) and written to ``examples/<mixture_id>_<target>.wav``;
``examples/examples.json`` says what each was chosen from ("median SI-SNRi of all 60 scored
targets"). `report` and `table --plot-examples` show them under that label.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avss_bench.core.atomic import write_bytes, write_text
from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.metrics.registry import metric_registry

EXAMPLES = "examples"
EXAMPLES_JSON = "examples.json"
RANK_COLUMNS = ("si_snr_i", "sdr_i", "si_snr", "sdr", "pesq", "stoi")


def rank_column(frame: pd.DataFrame) -> str | None:
    """The column examples are ranked by: the first of RANK_COLUMNS with a finite value."""
    for key in RANK_COLUMNS:
        if key in frame and np.isfinite(pd.to_numeric(frame[key], errors="coerce")).any():
            return key
    return None


def spread(count: int, n: int) -> list[tuple[int, str]]:
    """``(position, name)`` of `n` picks among `count` ranked values (0 = best): best, median,
    worst, then evenly spaced ranks (each position at most once)."""
    if count <= 0 or n <= 0:
        return []
    named = [(0, "best"), (count - 1, "worst")] if n >= 2 else [(0, "best")]
    if n >= 3:
        named.insert(1, ((count - 1) // 2, "median"))
    picks: dict[int, str] = {}
    for position, name in named:
        picks.setdefault(position, name)
    extra = [round(i * (count - 1) / (n - 1)) for i in range(1, n - 1)] if n > 3 else []
    for position in extra:
        if len(picks) >= min(n, count):
            break
        picks.setdefault(position, f"rank {position + 1} of {count}")
    for position in range(count):  # fill from the top when ranks coincided
        if len(picks) >= min(n, count):
            break
        picks.setdefault(position, f"rank {position + 1} of {count}")
    order = {"best": 0, "median": 1, "worst": 2}
    return sorted(picks.items(), key=lambda p: (order.get(p[1], 3), p[0]))


def choose_examples(frame: pd.DataFrame, n: int, who: str = "") -> list[dict[str, Any]]:
    """`n` targets of a results table spread over its scored distribution (module docstring).

    Returns dicts with mixture_id, target, column, value, rank (1 = best), of (targets ranked),
    failed (targets without a value, left out of the ranking) and why (the label shown).
    """
    column = rank_column(frame)
    if column is None:
        return []
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    good = frame[np.isfinite(values)].copy()
    good["_value"] = values[np.isfinite(values)]
    column_info = metric_registry.column(column)
    higher = True if column_info is None else column_info.higher_is_better
    ranked = good.sort_values("_value", ascending=not higher, kind="stable")
    label = column if column_info is None else column_info.label
    failed = int(len(frame) - len(ranked))
    scope = f"all {len(ranked)} scored targets" + (f" of {who}" if who else "")
    if failed:
        scope += f" ({failed} failed, left out)"
    out = []
    for position, name in spread(len(ranked), n):
        row = ranked.iloc[position]
        why = (f"{name} {label} of {scope}" if not name.startswith("rank")
               else f"{name} by {label} ({scope})")
        out.append({"mixture_id": str(row["mixture_id"]), "target": str(row["target"]),
                    "column": column, "value": float(row["_value"]), "rank": position + 1,
                    "of": int(len(ranked)), "failed": failed, "why": why})
    return out


def example_path(out: Path, mixture_id: str, target: str) -> Path:
    return Path(out) / EXAMPLES / f"{mixture_id}_{target}.wav"


def read_examples(out: Path) -> list[dict[str, Any]]:
    """What `examples.json` lists (empty when the folder keeps no examples)."""
    path = Path(out) / EXAMPLES / EXAMPLES_JSON
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [e for e in data.get("examples", []) if isinstance(e, dict)] \
        if isinstance(data, dict) else []


def write_examples(out: Path, frame: pd.DataFrame, n: int, separate) -> list[dict[str, Any]]:
    """Keep the estimates of `n` targets chosen from `frame` (every scored target).

    Args:
        out: the results folder.
        frame: results.csv's rows.
        n: how many (0: none; an earlier examples folder is then left as it is).
        separate: ``separate(mixture_id, target) -> float estimate [T]``, called only for the
            targets whose wav the folder does not hold yet.
    """
    if n <= 0:
        return []
    from avss_bench.io.audio import float_wav_bytes

    picks = choose_examples(frame, n)
    folder = Path(out) / EXAMPLES
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {example_path(out, p["mixture_id"], p["target"]).name for p in picks}
    for stale in folder.glob("*.wav"):  # kept by an earlier rule or another N
        if stale.name not in wanted:
            stale.unlink()
    for pick in picks:
        path = example_path(out, pick["mixture_id"], pick["target"])
        if not path.is_file():
            estimate = np.asarray(separate(pick["mixture_id"], pick["target"]), dtype=np.float64)
            peak = max(1.0, float(np.abs(estimate).max()) if estimate.size else 1.0)
            write_bytes(path, float_wav_bytes(estimate / peak, SAMPLE_RATE))
        pick["file"] = path.name
    write_text(folder / EXAMPLES_JSON, json.dumps(
        {"chosen_by": "evenly spaced ranks of the scored distribution (best, median, worst "
                      "first)", "examples": picks}, indent=2, allow_nan=False) + "\n")
    return picks
