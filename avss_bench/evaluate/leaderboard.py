"""The leaderboard: evaluation and profile results, one table per test set.

Reads every `summary.json` (written by `evaluate`, read through `evaluate.results`) under the
given folders, plus a `profile.json` beside it when present (written by `profile --json`).

What is compared with what:

* A result is a number on a test set: the `test_set` record its summary carries (the split's
  fingerprint and what the list is, `avss_bench.io.testset`). Results share a table only when
  their fingerprints are equal; a summary without a record (an older one) is a set of its own,
  "unrecorded".
* Published rows (`recipes/<corpus>/reported.csv`) and the Δ row (ours − reported) appear only
  in the table of a corpus's official test set; any other table says why it has none ("LRS2,
  given list, 5 of 5 mixtures: not the official LRS2-2Mix test set").
* A condition (damaged lips, a noisy copy of the same mixtures) is a table of its own, headed
  as a condition of its base set and placed after it.

Columns: the metric registry's table columns (mean ± 95% CI half-width, failures), the targets
scored and failed, Params and MACs (each header says per how many seconds of input and with or
without the visual encoder), and latency: one column per way it was measured (our profile's
device, threads and input length; the papers' device as `reported.csv` states it), so a CPU
and a GPU figure never share a column.

A row is labelled by its display name (`evaluate --name`), else the model card's; rows of
randomly initialised weights or of the official 50-row lip crop say so. Two results of the same
method on the same set are both shown, each labelled by its results folder, never merged. A
profile.json of another model or checkpoint than its summary is an error.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avss_bench.core.constants import LIP_CROP
from avss_bench.core.errors import AvssError
from avss_bench.corpora.testsets import (
    not_official_reason,
    official_lists,
    official_test_set,
    test_set_heading,
)
from avss_bench.evaluate.results import read_summary
from avss_bench.evaluate.stamp import profile_mismatch
from avss_bench.io.testset import TestSet
from avss_bench.metrics.registry import Column, metric_registry


@dataclass
class Stat:
    """A metric's mean, the half-width of its 95% CI, and how many values failed."""

    mean: float
    half_width: float | None = None
    n: int | None = None
    n_failed: int = 0


@dataclass
class Entry:
    """One row: a method on one test set (ours, published, or the difference of the two)."""

    method: str
    test_set: TestSet
    stats: dict[str, Stat] = field(default_factory=dict)
    params_m: float | None = None
    macs_g: float | None = None
    macs_seconds: float | None = None
    latency_ms: float | None = None
    latency_how: str | None = None  # device, threads, input length: the latency's column
    source: str = "ours"  # ours | reported | delta
    run: str = ""  # the results folder (labels duplicates)
    params_total_m: float | None = None  # with the visual encoder
    macs_total_g: float | None = None  # with the visual encoder, per macs_seconds
    targets: int | None = None  # targets scored
    failed: int | None = None  # targets with a failed value (the most of any metric)
    reported_as: str | None = None  # the published rows' method for this model
    citation: str = ""  # a published row's source

    @property
    def dataset(self) -> str:
        """The test set's label (what the tables head the row's table with)."""
        return self.test_set.label


@dataclass
class Group:
    """One table: the rows measured on one test set, and why it has no published rows."""

    test_set: TestSet
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"Test set: {test_set_heading(self.test_set)}"


def _stat(raw: Any) -> Stat | None:
    """A summary.json metric (`mean`, `ci95` [low, high], `n`, `n_failed`) as a Stat."""
    if not isinstance(raw, dict) or raw.get("mean") is None:
        return None
    low, high = raw.get("ci95") or (None, None)
    half = None if low is None or high is None else (float(high) - float(low)) / 2
    return Stat(float(raw["mean"]), half, raw.get("n"), int(raw.get("n_failed", 0) or 0))


def quality_columns() -> list[Column]:
    """The leaderboard's quality columns (labels, digits, direction: the metric registry)."""
    return metric_registry.table_columns()


def summary_test_set(summary: dict[str, Any]) -> TestSet:
    """The test set a summary records; a summary without one (older than the records) is a
    set of its own, named by the data and split it names (never by a folder's name)."""
    record = summary.get("test_set")
    if isinstance(record, dict):
        return TestSet.from_json(record)
    where = f"{summary.get('data')}|{summary.get('split')}|{summary.get('visual_condition')}"
    digest = hashlib.sha256(where.encode()).hexdigest()
    targets = int(summary.get("num_targets") or 0)
    return TestSet(f"unrecorded:{digest}", "", str(summary.get("split") or ""), "given",
                   targets // 2, 2, f"unrecorded test set ({digest[:12]})",
                   {"note": "an evaluation made before test sets were recorded"})


def _names(model: str, target: str | None, config: dict[str, Any]) -> tuple[str, str | None]:
    """(display name, published rows' method) from the model's card (`SeparatorEntry.card`),
    else the model's own name for a separator that is not installed here."""
    from avss_bench.models.registry import separators

    try:
        card = separators.resolve(target or model).card()
    except Exception:  # noqa: BLE001 - a plugin that is not installed here: its plain name
        return model, None
    return card.display_name(config), card.reported_method(config)


def latency_how(profile: dict[str, Any]) -> str:
    """How our latency was measured: device, threads, batch and input length."""
    device = str(profile.get("device") or "cpu")
    name = profile.get("device_name") or device
    seconds = profile.get("seconds")
    length = f"batch 1 x {float(seconds):g} s" if seconds else "batch 1"
    if device == "cpu":
        threads = profile.get("threads")
        thread_text = f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
        return f"ours: CPU {name}{thread_text}, {length}"
    return f"ours: {device.upper() if device == 'cuda' else device} {name}, {length}"


def read_entry(summary_path: Path) -> Entry:
    """One Entry from a summary.json (and the profile.json beside it, if any)."""
    summary = read_summary(summary_path)
    model = str(summary.get("model") or summary_path.parent.name)
    config = summary.get("config") or {}
    display, reported_as = _names(model, summary.get("model_target"), config)
    method = summary.get("name") or display
    if summary.get("random_init"):
        method += " (random init)"
    if summary.get("lip_rows", LIP_CROP) != LIP_CROP:
        method += f" (lips {summary['lip_rows']}x{LIP_CROP})"
    entry = Entry(str(method), summary_test_set(summary), run=str(summary_path.parent),
                  reported_as=reported_as)
    metrics = summary.get("metrics") or {}
    for column in quality_columns():
        stat = _stat(metrics.get(column.key))
        if stat is not None:
            entry.stats[column.key] = stat
    entry.targets = summary.get("num_targets")
    failed = [int(v.get("n_failed") or 0) for v in metrics.values() if isinstance(v, dict)]
    entry.failed = max(failed, default=0)
    if summary.get("params_separator") is not None:
        entry.params_m = summary["params_separator"] / 1e6
    profile_path = summary_path.with_name("profile.json")
    if profile_path.is_file():
        _join_profile(entry, summary, model, profile_path)
    return entry


def _join_profile(entry: Entry, summary: dict[str, Any], model: str, path: Path) -> None:
    import json

    try:
        profile = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AvssError(f"cannot read profile: {err}", path) from err
    if not isinstance(profile, dict):
        raise AvssError("is not a profile (a JSON object is expected)", path)
    if summary.get("model_target"):
        mismatch = profile_mismatch(profile, summary["model_target"],
                                    summary.get("checkpoint_sha256"))
    elif profile.get("model") not in (None, model):
        mismatch = f"measured {profile.get('model')}, evaluated {model}"
    else:
        mismatch = None
    if mismatch:
        raise AvssError(f"is not a profile of the evaluation beside it: {mismatch} (profile "
                        "that checkpoint again, or remove the file)", path)
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
    if entry.latency_ms is not None:
        entry.latency_how = latency_how(profile)


def collect(paths: list[Path], allow_empty: bool = False) -> list[Entry]:
    """Every evaluation summary under `paths` (files or folders, searched recursively); none
    found is an error unless `allow_empty` (the published comparison shown alone)."""
    found = find_summaries(paths, allow_missing=allow_empty)
    if not found:
        if allow_empty:
            return []
        raise AvssError("no summary.json found (run `avss-bench evaluate` first)",
                        paths[0] if paths else None)
    return label_duplicates([read_entry(p) for p in found])


def find_summaries(paths: list[Path], allow_missing: bool = False) -> list[Path]:
    """Every `summary.json` named by `paths` or under them (recursively), resolved, each once;
    a path that does not exist is an error unless `allow_missing`."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob("summary.json")))
        elif not allow_missing:
            raise AvssError("no such results file or folder", path)
    return list(dict.fromkeys(p.resolve() for p in found))


def label_duplicates(entries: list[Entry]) -> list[Entry]:
    """Give results of the same method on the same test set distinct labels: their folders."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.method, entry.test_set.fingerprint), []).append(entry)
    for group in groups.values():
        if len(group) < 2:
            continue
        runs = [e.run for e in group]
        base = os.path.commonpath(runs)
        for entry in group:
            rel = os.path.relpath(entry.run, os.path.dirname(base) if base in runs else base)
            entry.method = f"{entry.method} [run: {rel}]"
    return entries


def read_reported(test_set: TestSet) -> list[Entry]:
    """The published numbers measured on `test_set`: `recipes/<corpus>/reported.csv` of the
    corpus whose official test list it is (none for any other set)."""
    import csv
    from importlib import resources

    official = official_test_set(test_set.corpus) if test_set.corpus else None
    if official is None or official.fingerprint != test_set.fingerprint:
        return []
    path = resources.files("avss_bench.recipes").joinpath(test_set.corpus, "reported.csv")
    if not path.is_file():
        return []
    entries = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            def value(key: str, row: dict[str, str] = row) -> float | None:
                return float(row[key]) if row.get(key) else None

            entry = Entry(row["method"], official, source="reported",
                          citation=row.get("source", ""))
            for column in quality_columns():
                if value(column.key) is not None:
                    entry.stats[column.key] = Stat(value(column.key))
            entry.params_m, entry.macs_g = value("params_m"), value("macs_g")
            entry.macs_seconds = value("macs_seconds")
            entry.latency_ms = value("latency_ms")
            if entry.latency_ms is not None:
                how = row.get("latency_device") or "device not stated"
                setup = row.get("latency_setup")
                entry.latency_how = f"published: {how}" + (f"; {setup}" if setup else "")
            entries.append(entry)
    return entries


def published_test_sets() -> list[TestSet]:
    """The official test sets that have published rows (the comparison shown alone)."""
    sets = [official_test_set(o.corpus, o.split) for o in official_lists() if o.split == "tt"]
    return [s for s in sets if s is not None and read_reported(s)]


def group_entries(entries: list[Entry], reported: bool = False) -> list[Group]:
    """One Group per test set (conditions after their base set); with `reported`, the
    published rows and Δ rows in the official sets' groups and, in every other group, the
    reason it has none. No entries and `reported`: every published test set alone."""
    groups: dict[str, Group] = {}
    for entry in entries:
        groups.setdefault(entry.test_set.fingerprint, Group(entry.test_set)).entries.append(entry)
    if reported and not entries:
        for test_set in published_test_sets():
            groups[test_set.fingerprint] = Group(test_set)
    if reported:
        for group in groups.values():
            _add_reported(group)
    ordered: list[Group] = []
    bases = [g for g in groups.values() if g.test_set.kind != "condition"]
    conditions = [g for g in groups.values() if g.test_set.kind == "condition"]
    for base in bases:
        ordered.append(base)
        ordered += [c for c in conditions
                    if c.test_set.base_fingerprint == base.test_set.fingerprint]
    ordered += [c for c in conditions if c not in ordered]
    return ordered


def _add_reported(group: Group) -> None:
    published = read_reported(group.test_set)
    if not published:
        group.notes.append(f"No published rows: {not_official_reason(group.test_set)}.")
        return
    remaining = {e.method: e for e in published}
    rows: list[Entry] = []
    for ours in group.entries:
        rows.append(ours)
        paper = remaining.pop(ours.reported_as or ours.method, None)
        if paper is None:
            continue
        rows.append(Entry(f"{ours.method} (reported)", paper.test_set, paper.stats,
                          paper.params_m, paper.macs_g, paper.macs_seconds, paper.latency_ms,
                          paper.latency_how, "reported", citation=paper.citation))
        delta = {k: Stat(ours.stats[k].mean - paper.stats[k].mean)
                 for k in paper.stats if k in ours.stats}
        rows.append(Entry(f"{ours.method} Δ (ours − reported)", group.test_set, delta,
                          source="delta"))
    for method, paper in remaining.items():
        paper.method = f"{method} (reported)"
        rows.append(paper)
    group.entries = rows


def format_count(value: float | None, missing: str = "–") -> str:
    """Params / MACs without losing published digits: 55.87, 167.2, 7.0, 3.04; values below 1
    keep three significant digits (a demo model's 0.114 M); `missing` when there is none."""
    if value is None or math.isnan(value):
        return missing
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


def _targets(entry: Entry) -> str:
    if entry.targets is None:
        return "–"
    return f"{entry.targets}" + (f" ({entry.failed} failed)" if entry.failed else "")


def latency_columns(entries: list[Entry]) -> list[str]:
    """One column per way a latency was measured, ours first."""
    hows = list(dict.fromkeys(e.latency_how for e in entries
                              if e.latency_how and e.latency_ms is not None))
    return sorted(hows, key=lambda h: not h.startswith("ours"))


def table_rows(group: Group, with_ci: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and body of one test set's table (methods x quality, targets, efficiency)."""
    entries = group.entries
    columns = quality_columns()
    header = ["Method"] + [c.label for c in columns] + ["Targets (failed)"]
    seconds = {e.macs_seconds for e in entries if e.macs_seconds}
    per = f" per {seconds.pop():g} s" if len(seconds) == 1 else ""
    hows = latency_columns(entries)
    header += ["Params (M)", f"MACs (G{per})", "Params w/ visual enc. (M)",
               f"MACs w/ visual enc. (G{per})"]
    header += [f"Latency (ms; {how})" for how in hows]
    body = []
    for entry in entries:
        row = [entry.method]
        row += [_fmt(entry.stats.get(c.key), c.digits, with_ci) for c in columns]
        row.append(_targets(entry))
        for params, macs in ((entry.params_m, entry.macs_g),
                             (entry.params_total_m, entry.macs_total_g)):
            row.append(format_count(params))
            if macs is None:
                row.append("–")
            elif per or entry.macs_seconds is None:
                row.append(format_count(macs))
            else:
                row.append(f"{format_count(macs)} (per {entry.macs_seconds:g} s)")
        row += [f"{entry.latency_ms:.1f}" if entry.latency_how == how
                and entry.latency_ms is not None else "–" for how in hows]
        body.append(row)
    return header, body


def render(groups: list[Group], fmt: str = "markdown", with_ci: bool = True) -> str:
    """The tables as markdown (a heading and notes per test set), latex (one tabular per set,
    headings as comments) or csv (one table, the test set and its fingerprint in the first
    columns of every row)."""
    if fmt == "markdown":
        parts = []
        for group in groups:
            header, body = table_rows(group, with_ci)
            lines = [group.heading, "", "| " + " | ".join(header) + " |",
                     "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in body]
            lines += [""] + group.notes if group.notes else []
            parts.append("\n".join(lines))
        return "\n\n".join(parts)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        written: list[str] | None = None
        for group in groups:
            header, body = table_rows(group, with_ci)
            header = ["Test set", "Fingerprint"] + header
            if written is not None and header != written:
                writer.writerow([])
            if header != written:
                writer.writerow(header)
                written = header
            writer.writerows([group.test_set.label, group.test_set.fingerprint] + row
                             for row in body)
        return buffer.getvalue()
    if fmt == "latex":
        from avss_bench.evaluate.latex import latex_table

        return latex_table(groups, with_ci=with_ci)
    raise AvssError(f"unknown table format '{fmt}' (markdown, latex, csv)")


def summary_text(summary: dict[str, Any]) -> str:
    """`evaluate`'s short result: the test set, then one line per metric column."""
    test_set = summary_test_set(summary)
    lines = [f"Test set: {test_set_heading(test_set)}",
             f"{'metric':<14} {'mean':>9} {'95% CI':>21} {'n':>6} {'failed':>6}"]
    for key, raw in (summary.get("metrics") or {}).items():
        stat = _stat(raw)
        if stat is None and isinstance(raw, dict):  # every value failed: the mean is null
            stat = Stat(math.nan, None, raw.get("n"), int(raw.get("n_failed") or 0))
        if stat is None:
            continue
        column = metric_registry.column(key)
        label = column.axis_label if column is not None else key
        digits = column.digits if column is not None else 3
        ci = "–"
        if stat.half_width is not None and math.isfinite(stat.half_width):
            low, high = ((raw["ci95_low"], raw["ci95_high"]) if raw.get("ci95_low") is not None
                         else raw["ci95"])
            ci = f"[{low:.{digits}f}, {high:.{digits}f}]"
        mean = "n/a" if stat.mean is None or math.isnan(stat.mean) else f"{stat.mean:.{digits}f}"
        lines.append(f"{label:<14} {mean:>9} {ci:>21} {stat.n if stat.n is not None else '–':>6}"
                     f" {stat.n_failed:>6}")
    return "\n".join(lines)
