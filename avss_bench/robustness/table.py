"""The robustness view of `avss-bench table`: models x conditions, SI-SNRi and drop from clean.

Headed by the test set the conditions are conditions of (the clean point's); a corpus condition
whose mixtures are not those of the clean set (another list, 3 speakers) is named as a test set
of its own, since its drop then compares different mixtures.

A target-absent condition has no target, so no SI-SNRi: its cell says so and gives the leak
(output-to-mixture energy, dB, lower is better) instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from avss_bench.core.errors import AvssError
from avss_bench.robustness.run import CSV, condition_order


def read_robustness(paths: list[Path]) -> pd.DataFrame:
    """The rows of every robustness.csv given (a file, or a folder holding one)."""
    frames = []
    for path in paths:
        csv = path / CSV if path.is_dir() else path
        if not csv.is_file():
            raise AvssError(f"no {CSV} here (run `avss-bench robustness` first)", path)
        try:
            frame = pd.read_csv(csv)
        except (OSError, ValueError) as err:
            raise AvssError(f"cannot read {CSV}: {err}", csv) from err
        missing = {"model", "condition", "si_snr_i", "drop"} - set(frame.columns)
        if missing:
            raise AvssError(f"{CSV} lacks the columns {sorted(missing)}", csv)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def robustness_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows = models, columns = conditions (clean first, grid order); cells 'SI-SNRi (drop)'.

    The drop is the condition's SI-SNRi minus the model's clean SI-SNRi, in dB.
    """
    keys: dict[str, tuple] = {}
    for condition, kind, value in zip(frame["condition"], frame.get("kind", frame["condition"]),
                                      frame.get("value", [None] * len(frame)), strict=True):
        keys.setdefault(condition, condition_order(str(kind), value))
    conditions = sorted(keys, key=lambda c: (keys[c], c))  # grid order, clean first
    models = list(dict.fromkeys(frame["model"]))
    cells = {}
    for model in models:
        row = {}
        for condition in conditions:
            found = frame[(frame["model"] == model) & (frame["condition"] == condition)]
            row[condition] = _cell(found.iloc[-1]) if len(found) else "–"
        cells[model] = row
    table = pd.DataFrame.from_dict(cells, orient="index", columns=conditions)
    table.index.name = "model"
    return table


def _cell(row: pd.Series) -> str:
    if row.get("kind") == "absent":
        leak = float(row.get("leak_db", math.nan))
        return "SI-SNRi undefined; leak " + ("n/a" if math.isnan(leak) else f"{leak:.2f} dB")
    value, drop = float(row["si_snr_i"]), float(row["drop"])
    if math.isnan(value):
        return "n/a"
    if row.get("kind", row["condition"]) == "clean" or math.isnan(drop):
        return f"{value:.2f}"
    return f"{value:.2f} ({drop:+.2f})"


def base_test_sets(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, fingerprint) of each clean test set the grid's conditions are taken from."""
    if "test_set" not in frame or "kind" not in frame:
        return []
    clean = frame[frame["kind"] == "clean"]
    return list(dict.fromkeys(zip(clean["test_set"], clean["test_set_fingerprint"],
                                  strict=True)))


def robustness_notes(frame: pd.DataFrame) -> list[str]:
    """The heading (the clean test set the grid is a condition of), then a note for each
    condition on other mixtures. Older CSVs without test-set columns get a plain heading."""
    if "test_set" not in frame or "kind" not in frame:
        return ["Robustness (test sets not recorded: rerun `avss-bench robustness`)"]
    bases = base_test_sets(frame)
    if not bases:
        return ["Robustness (no clean point)"]
    heading = "Robustness: conditions of " + "; ".join(
        f"{label} (fingerprint {str(fp)[:12]})" for label, fp in bases)
    notes = [heading]
    fingerprints = {fp for _, fp in bases}
    others = frame[(frame["kind"] != "clean") & ~frame["base_fingerprint"].isin(fingerprints)]
    for condition, row in others.groupby("condition", sort=False):
        notes.append(f"{condition}: {row['test_set'].iloc[0]} is a test set of its own, not a "
                     f"condition of {bases[0][0]}; its change from clean compares other "
                     "mixtures.")
    return notes


def render_robustness(paths: list[Path], fmt: str = "markdown") -> str:
    """The robustness table as Markdown (default) or CSV text."""
    frame = read_robustness(paths)
    table = robustness_table(frame)
    if fmt == "csv":
        return table.to_csv().rstrip("\n")
    if fmt != "markdown":
        raise AvssError(f"the robustness view is written as markdown or csv, not {fmt}")
    notes = robustness_notes(frame)
    header = ["model", *table.columns]
    lines = [notes[0], "", "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":-:"] * len(
        table.columns)) + "|"]
    for model, row in table.iterrows():
        lines.append("| " + " | ".join([str(model), *row.tolist()]) + " |")
    lines.append("")
    lines.append("SI-SNRi (dB) on each condition; in brackets the change from the same model's "
                 "clean SI-SNRi.")
    kinds = frame["kind"] if "kind" in frame else pd.Series("", index=frame.index)
    absent = sorted(set(frame.loc[kinds == "absent", "condition"]))
    if absent:
        lines.append(f"{', '.join(absent)}: target absent (the lips of a silent third face); "
                     "SI-SNRi is undefined without a target, so the cell is the leak, the "
                     "separator's output-to-mixture energy in dB (lower is better; 0 dB passes "
                     "the mixture through).")
    lines += notes[1:]
    return "\n".join(lines)
