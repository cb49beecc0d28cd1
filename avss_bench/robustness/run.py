"""Evaluate one separator over a grid of conditions and summarise them in `robustness.csv`.

Layout: `OUT/<model>/<condition>/` is an ordinary evaluation folder (results.csv, summary.json,
evaluate.stamp.json) plus `condition.json` naming its point of the grid. `robustness.csv` is
rebuilt from every such folder under OUT, so running a second model into the same OUT adds its
rows and its line to the plot. `drop` is the condition's SI-SNRi minus the same model's clean
SI-SNRi (negative = worse). A target-absent corpus condition (kind `absent`) has no SI-SNRi
(no target): its row gives `leak_db`, the output-to-mixture energy in dB that `evaluate` writes
as `target_absent_leak_db` in its summary.json (lower is better), with its CI; its `n` counts
mixtures.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from avss_bench.core.atomic import atomic_path, write_text
from avss_bench.core.errors import AvssError
from avss_bench.evaluate.results import SUMMARY, corpus_name, read_summary
from avss_bench.evaluate.run import evaluate
from avss_bench.io.manifest import manifest_path
from avss_bench.robustness.grid import Condition, mark_target_absent

CONDITION_FILE = "condition.json"
CSV = "robustness.csv"
COLUMNS = ["model", "condition", "kind", "value", "data", "visual", "visual_seed", "si_snr_i",
           "si_snr_i_ci_low", "si_snr_i_ci_high", "drop", "leak_db", "leak_db_ci_low",
           "leak_db_ci_high", "n", "n_failed", "folder"]


def slug(text: str) -> str:
    """A folder-safe version of a model's display name."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "model"


def run_robustness(model: str | None, checkpoint: str | Path | None, grid: list[Condition],
                   out_dir: str | Path, split: str = "tt", metrics: tuple[str, ...] = ("si_snr",),
                   seed: int = 0, name: str | None = None, quiet: bool = False,
                   **options: Any) -> pd.DataFrame:
    """Evaluate `model` on every condition of `grid`; returns the rows written to robustness.csv.

    `options` go to `evaluate` unchanged (frontend_checkpoint, device, lip_rows, random_init,
    overwrite, config overrides).
    """
    from avss_bench.metrics.registry import metric_registry

    if "si_snr" not in metric_registry.check(metrics):
        raise AvssError("robustness reports SI-SNRi: --metrics must include si_snr")
    out = Path(out_dir)
    label = name or model or Path(str(checkpoint)).stem
    for condition in grid:  # a missing folder stops before the first (long) evaluation
        manifest_path(condition.data, split)
    grid = mark_target_absent(grid, split)
    for condition in grid:
        folder = out / slug(label) / condition.label
        if not quiet:
            print(f"robustness: {label} / {condition.label}", file=sys.stderr, flush=True)
        # clean and visual points keep evaluate's label (the corpus, + " [zero:30]");
        # a corpus condition is labelled by its --data name beside the corpus
        dataset = (None if condition.data_name == grid[0].data_name
                   else f"{corpus_name(condition.data, split)} [{condition.data_name}]")
        evaluate(model, checkpoint, condition.data, split=split, out_dir=folder, metrics=metrics,
                 quiet=quiet, name=name, dataset=dataset, visual_condition=condition.visual,
                 visual_seed=seed, **options)
        write_text(folder / CONDITION_FILE,
                   json.dumps({"model": label, **condition.as_dict(), "visual_seed": seed},
                              indent=2))
    return write_csv(out)


def collect(out_dir: Path) -> pd.DataFrame:
    """One row per (model, condition) folder under `out_dir` that has a summary."""
    rows: list[dict[str, Any]] = []
    for marker in sorted(Path(out_dir).glob(f"*/*/{CONDITION_FILE}")):
        folder = marker.parent
        summary_path = folder / SUMMARY
        if not summary_path.is_file():
            continue
        try:
            point = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise AvssError(f"cannot read robustness results: {err}", folder) from err
        summary = read_summary(summary_path)
        rows.append({
            "model": point["model"], "condition": point["label"], "kind": point["kind"],
            "value": point["value"], "data": point["data_name"], "visual": point["visual"],
            "visual_seed": point.get("visual_seed"), **_scores(point["kind"], summary,
                                                               summary_path),
            "folder": str(folder.relative_to(out_dir)),
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    frame["order"] = [condition_order(kind, value)
                      for kind, value in zip(frame["kind"], frame["value"], strict=True)]
    frame = frame.sort_values(["model", "order", "condition"], kind="stable").drop(
        columns="order").reset_index(drop=True)
    clean = frame[frame["kind"] == "clean"].set_index("model")["si_snr_i"]
    frame["drop"] = [value - clean[model] if model in clean.index else math.nan
                     for model, value in zip(frame["model"], frame["si_snr_i"], strict=True)]
    return frame


def _scores(kind: str, summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """SI-SNRi and its CI, or for a target-absent condition the leak and its CI (no SI-SNRi)."""
    nan = math.nan
    key, stat = (("target_absent_leak_db", summary.get("target_absent_leak_db"))
                 if kind == "absent" else ("si_snr_i", summary.get("metrics", {}).get("si_snr_i")))
    if stat is None:
        raise AvssError(f"summary.json has no {key}", path)
    low, high = (nan if v is None else v for v in stat.get("ci95") or [nan, nan])  # null: none
    scores = {"si_snr_i": nan, "si_snr_i_ci_low": nan, "si_snr_i_ci_high": nan, "drop": nan,
              "leak_db": nan, "leak_db_ci_low": nan, "leak_db_ci_high": nan,
              "n": stat["n"], "n_failed": stat["n_failed"]}
    name = "leak_db" if kind == "absent" else "si_snr_i"
    scores.update({name: nan if stat["mean"] is None else stat["mean"], f"{name}_ci_low": low,
                   f"{name}_ci_high": high})
    return scores


def condition_order(kind: str, value: Any) -> tuple[int, str, float]:
    """Sort key of the grid: clean, zero, freeze, offset, lowres (finer first), fps, corpora,
    target absent last."""
    rank = {"clean": 0, "zero": 1, "freeze": 2, "offset": 3, "lowres": 4, "fps": 5, "absent": 7}
    number = -math.inf if value is None or pd.isna(value) else float(value)
    if kind == "lowres":
        number = -number  # lower resolution = harder, listed after
    return rank.get(kind, 6), kind if kind not in rank else "", number


def write_csv(out_dir: Path) -> pd.DataFrame:
    """Rebuild OUT/robustness.csv from every condition folder; returns its rows."""
    frame = collect(out_dir)
    if frame.empty:
        raise AvssError("no robustness results (condition folders with summary.json) here",
                        out_dir)
    with atomic_path(Path(out_dir) / CSV) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return frame
