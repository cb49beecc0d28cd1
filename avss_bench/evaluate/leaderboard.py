"""The leaderboard: evaluation and profile results gathered into the papers' comparison table.

Reads every `summary.json` (written by `evaluate`) under the given folders, plus a
`profile.json` beside it when present (written by `profile --json`), and renders one row per
method with SI-SNRi, SDRi, PESQ, STOI (mean ± 95% CI half-width) per dataset, then Params,
MACs and latency.

A row is labelled by its display name (`evaluate --name`), else the model's; rows of randomly
initialised weights or of the official 50-row lip crop say so. Two results of the same method
on the same dataset are both shown, each labelled by its results folder, never merged. A
profile.json of another model or checkpoint than its summary is an error.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avss_bench.core.constants import LIP_CROP
from avss_bench.core.errors import AvssError
from avss_bench.evaluate.results import read_summary
from avss_bench.evaluate.stamp import profile_mismatch
from avss_bench.models.card import ModelCard
from avss_bench.models.registry import separators

QUALITY = (("si_snr_i", "SI-SNRi"), ("sdr_i", "SDRi"), ("pesq", "PESQ"), ("stoi", "STOI"))
DATASET_NAMES = {"lrs2": "LRS2-2Mix", "lrs3": "LRS3-2Mix", "vox2": "VoxCeleb2-2Mix",
                 "demo": "Demo-2Mix (generated)"}


@dataclass
class Stat:
    """A metric's mean, the half-width of its 95% CI, and how many values failed."""

    mean: float
    half_width: float | None = None
    n: int | None = None
    n_failed: int = 0


@dataclass
class Entry:
    """One method on one dataset."""

    method: str
    dataset: str
    stats: dict[str, Stat] = field(default_factory=dict)
    params_m: float | None = None
    macs_g: float | None = None
    macs_seconds: float | None = None
    latency_ms: float | None = None
    source: str = "ours"
    run: str = ""  # the results folder (labels duplicates)
    params_total_m: float | None = None  # with the visual encoder
    macs_total_g: float | None = None  # with the visual encoder, per macs_seconds
    reported_as: str | None = None  # the `method` of its published rows (the model's card)


def _stat(raw: Any) -> Stat | None:
    """A summary.json metric (`mean`, `ci95` [low, high], `n`, `n_failed`) as a Stat."""
    if not isinstance(raw, dict) or raw.get("mean") is None:
        return None
    low, high = raw.get("ci95") or (None, None)
    half = None if low is None or high is None else (float(high) - float(low)) / 2
    return Stat(float(raw["mean"]), half, raw.get("n"), int(raw.get("n_failed", 0) or 0))


def dataset_label(summary: dict[str, Any]) -> str:
    name = summary.get("dataset") or Path(summary.get("data", "data")).name
    return DATASET_NAMES.get(str(name).lower(), str(name))


def model_card(model: str) -> ModelCard | None:
    """The card of the separator a summary names, or None when it cannot be found here."""
    try:
        return separators.resolve(model).card()
    except AvssError:
        return None


def method_name(model: str, config: dict[str, Any]) -> str:
    """The row's name: the model card's display name for the evaluated config (a template
    such as "RTFS-Net-{repeats}" filled in), else the model's name."""
    card = model_card(model)
    return card.display_name(config) if card is not None else model


def read_entry(summary_path: Path) -> Entry:
    """One Entry from a summary.json (and the profile.json beside it, if any)."""
    summary = read_summary(summary_path)
    model = str(summary.get("model") or summary_path.parent.name)
    config = summary.get("config") or {}
    method = summary.get("name") or method_name(model, config)
    card = model_card(model)
    plain = card is not None and method == card.display_name(config)
    if summary.get("random_init"):
        method += " (random init)"
    if summary.get("lip_rows", LIP_CROP) != LIP_CROP:
        method += f" (lips {summary['lip_rows']}x{LIP_CROP})"
    entry = Entry(str(method), dataset_label(summary), run=str(summary_path.parent),
                  reported_as=card.reported_method(config) if plain else None)
    for key, _ in QUALITY:
        stat = _stat(summary.get("metrics", {}).get(key))
        if stat is not None:
            entry.stats[key] = stat
    if summary.get("params_separator") is not None:
        entry.params_m = summary["params_separator"] / 1e6
    profile_path = summary_path.with_name("profile.json")
    if profile_path.is_file():
        try:
            profile = json.loads(profile_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise AvssError(f"cannot read profile: {err}", profile_path) from err
        if summary.get("model_target"):
            mismatch = profile_mismatch(profile, summary["model_target"],
                                        summary.get("checkpoint_sha256"))
        elif profile.get("model") not in (None, model):
            mismatch = f"measured {profile.get('model')}, evaluated {model}"
        else:
            mismatch = None
        if mismatch:
            raise AvssError(f"is not a profile of the evaluation beside it: {mismatch} (profile "
                            "that checkpoint again, or remove the file)", profile_path)
        if profile.get("params_separator") is not None:
            entry.params_m = profile["params_separator"] / 1e6
        if profile.get("params_total") is not None:
            entry.params_total_m = profile["params_total"] / 1e6
        if profile.get("macs_separator_1s_g") is not None:  # both conventions, per 1 s
            entry.macs_g, entry.macs_seconds = profile["macs_separator_1s_g"], 1.0
            entry.macs_total_g = profile.get("macs_total_1s_g")
        else:  # an older profile.json: separator only, at its own length
            entry.macs_g = profile.get("macs_separator_g")
            entry.macs_seconds = profile.get("seconds")
        entry.latency_ms = profile.get("latency_ms_median")
    return entry


def collect(paths: list[Path], allow_empty: bool = False) -> list[Entry]:
    """Every evaluation summary under `paths` (files or folders, searched recursively); none
    found is an error unless `allow_empty` (the published comparison shown alone)."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob("summary.json")))
        elif not allow_empty:
            raise AvssError("no such results file or folder", path)
    if not found:
        if allow_empty:
            return []
        raise AvssError("no summary.json found (run `avss-bench evaluate` first)",
                        paths[0] if paths else None)
    return label_duplicates([read_entry(p) for p in dict.fromkeys(p.resolve() for p in found)])


def label_duplicates(entries: list[Entry]) -> list[Entry]:
    """Give results of the same method on the same dataset distinct labels: their folders."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.method, entry.dataset), []).append(entry)
    for group in groups.values():
        if len(group) < 2:
            continue
        runs = [e.run for e in group]
        base = os.path.commonpath(runs)
        for entry in group:
            rel = os.path.relpath(entry.run, os.path.dirname(base) if base in runs else base)
            entry.method = f"{entry.method} [run: {rel}]"
    return entries


CORPUS_OF_DATASET = {label: key for key, label in DATASET_NAMES.items()}


def read_reported(dataset: str) -> list[Entry]:
    """The published numbers for a dataset, from `recipes/<corpus>/reported.csv`."""
    import csv
    from importlib import resources

    corpus = CORPUS_OF_DATASET.get(dataset)
    if corpus is None:
        return []
    path = resources.files("avss_bench.recipes").joinpath(corpus, "reported.csv")
    if not path.is_file():
        return []
    entries = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            def value(key: str, row: dict[str, str] = row) -> float | None:
                return float(row[key]) if row.get(key) else None

            entry = Entry(row["method"], dataset, source=row.get("source", "reported"))
            for key, _ in QUALITY:
                if value(key) is not None:
                    entry.stats[key] = Stat(value(key))
            entry.params_m, entry.macs_g = value("params_m"), value("macs_g")
            entry.macs_seconds = value("macs_seconds")
            entry.latency_ms = value("gpu_latency_ms")
            entries.append(entry)
    return entries


def with_reported(entries: list[Entry]) -> list[Entry]:
    """Ours, each followed by its published row and the difference (ours − reported) where
    the dataset matches; then the published rows of every bundled corpus (LRS2-2Mix,
    LRS3-2Mix, VoxCeleb2-2Mix) as their own column groups, so our results always sit beside
    the paper's table."""
    datasets = list(dict.fromkeys(e.dataset for e in entries))
    datasets += [label for label in DATASET_NAMES.values() if label not in datasets]
    reported = {(e.method, e.dataset): e for d in datasets for e in read_reported(d)}
    out: list[Entry] = []
    ours_methods = list(dict.fromkeys(e.method for e in entries))
    for method in ours_methods:
        out.extend(e for e in entries if e.method == method)
        for dataset in datasets:
            ours = next((e for e in entries if e.method == method and e.dataset == dataset), None)
            paper = (None if ours is None or ours.reported_as is None
                     else reported.pop((ours.reported_as, dataset), None))
            if paper is None or ours is None:
                continue
            out.append(Entry(f"{method} (reported)", dataset, paper.stats, paper.params_m,
                             paper.macs_g, paper.macs_seconds, paper.latency_ms, "reported"))
            delta = {k: Stat(ours.stats[k].mean - paper.stats[k].mean)
                     for k in paper.stats if k in ours.stats}
            out.append(Entry(f"{method} Δ (ours − reported)", dataset, delta, source="delta"))
    for (method, dataset), paper in reported.items():
        out.append(Entry(f"{method} (reported)", dataset, paper.stats, paper.params_m,
                         paper.macs_g, paper.macs_seconds, paper.latency_ms, "reported"))
    return out


def _num(value: float | None) -> str:
    """Params / MACs without losing published digits: 55.87, 167.2, 7.0, 3.04; values below 1
    keep three significant digits (a demo model's 0.114 M)."""
    if value is None or math.isnan(value):
        return "–"
    if abs(value) < 1:
        return f"{value:.3g}"
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text


def _fmt(stat: Stat | None, digits: int, with_ci: bool) -> str:
    if stat is None or stat.mean is None or math.isnan(stat.mean):
        return "–"
    text = f"{stat.mean:.{digits}f}"
    if with_ci and stat.half_width is not None and not math.isnan(stat.half_width):
        text += f" ± {stat.half_width:.{digits}f}"
    if stat.n_failed:
        text += f" ({stat.n_failed} failed)"
    return text


def table_rows(entries: list[Entry], with_ci: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and body of the leaderboard (methods x dataset metric groups + efficiency)."""
    datasets = list(dict.fromkeys(e.dataset for e in entries))
    methods = list(dict.fromkeys(e.method for e in entries))
    by_key = {(e.method, e.dataset): e for e in entries}
    single = len(datasets) == 1
    header = ["Method"]
    for dataset in datasets:
        header += [label if single else f"{dataset} {label}" for _, label in QUALITY]
    seconds = {e.macs_seconds for e in entries if e.macs_seconds}
    per = f" per {seconds.pop():g} s" if len(seconds) == 1 else ""
    header += ["Params (M)", f"MACs (G{per})", "Params w/ visual enc. (M)",
               f"MACs w/ visual enc. (G{per})", "Latency (ms)"]
    body = []
    for method in methods:
        row = [method]
        efficiency = next((by_key[(method, d)] for d in datasets if (method, d) in by_key), None)
        own_seconds = efficiency.macs_seconds if efficiency is not None else None
        for dataset in datasets:
            entry = by_key.get((method, dataset))
            for key, _ in QUALITY:
                digits = 3 if key == "stoi" else 2
                row.append(_fmt(entry.stats.get(key) if entry else None, digits, with_ci))
        pairs = [(None, None)] * 2 if efficiency is None else [
            (efficiency.params_m, efficiency.macs_g),
            (efficiency.params_total_m, efficiency.macs_total_g)]
        for params, macs in pairs:
            row.append(_num(params))
            if macs is None:
                row.append("–")
            elif per or own_seconds is None:
                row.append(_num(macs))
            else:
                row.append(f"{_num(macs)} (per {own_seconds:g} s)")
        row.append("–" if efficiency is None or efficiency.latency_ms is None
                   else f"{efficiency.latency_ms:.1f}")
        body.append(row)
    return header, body


def render(entries: list[Entry], fmt: str = "markdown", with_ci: bool = True) -> str:
    """The table as markdown, latex or csv text."""
    header, body = table_rows(entries, with_ci=with_ci)
    datasets = list(dict.fromkeys(e.dataset for e in entries))
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        if len(datasets) == 1:
            lines.insert(0, f"Dataset: {datasets[0]}\n")
        return "\n".join(lines)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(body)
        return buffer.getvalue()
    if fmt == "latex":
        escape = lambda s: s.replace("±", r"$\pm$").replace("%", r"\%").replace("_", r"\_")  # noqa: E731
        lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
                 " & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(escape(c) for c in row) + r" \\" for row in body]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines)
    raise AvssError(f"unknown table format '{fmt}' (markdown, latex, csv)")
