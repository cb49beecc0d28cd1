"""The leaderboard as a LaTeX table for a paper (`avss-bench table --format latex`).

The output is a complete ``table`` (``table*`` when it is too wide for one column) that
compiles as is in any document that loads ``booktabs``: booktabs rules, one column group per
test set, our rows first and the published rows under their own label, the best value of each
quality column in bold among both, and a caption that names the test set(s), the units, how
Params and MACs are counted and how each latency was measured (one column per device, as in the
markdown table). The difference rows of ``--reported`` (ours − reported) are left out: ours and
the published row are both shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from avss_bench.evaluate.leaderboard import Entry, Group, Stat, format_count, latency_columns
from avss_bench.io.testset import TestSet
from avss_bench.metrics.registry import Column, metric_registry

#: characters LaTeX treats specially, and non-ASCII ones pdflatex cannot set from a plain file
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
            "±": r"$\pm$", "Δ": r"$\Delta$", "−": r"$-$", "×": r"$\times$", "–": "--",
            "—": "---", "µ": r"$\mu$", "≤": r"$\leq$", "≥": r"$\geq$", "…": r"\ldots{}"}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))

#: more columns than this go into ``table*`` (across both columns of a two-column paper)
ONE_COLUMN_MAX = 7
#: the most columns of test sets side by side (13 fit 455 pt, a two-column paper's text width)
WIDE_COLUMNS = 13
PUBLISHED_SUFFIX = " (reported)"
MARKS = "abcdefgh"


def tex_escape(text: str) -> str:
    """`text` as LaTeX source that prints it (specials escaped, ±/Δ/− as math)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], str(text))


def _published(entry: Entry) -> bool:
    return entry.source not in ("ours", "delta")


def _macs_per_second(macs: float | None, seconds: float | None) -> float | None:
    return None if macs is None else macs / (seconds or 1.0)


def _count(value: float | None) -> str:
    return format_count(value, missing="--")


def _efficiency(entries: list[Entry]) -> list[tuple[str, Callable[[Entry], str]]]:
    """The efficiency columns some row has a value for: (header, cell of an entry); latency
    has one column per way it was measured (marked a, b, ...; the caption says which)."""
    columns: list[tuple[str, Callable[[Entry], float | None], Callable[[float], str]]] = [
        ("Params (M)", lambda e: e.params_m, _count),
        ("MACs (G/s)", lambda e: _macs_per_second(e.macs_g, e.macs_seconds), _count),
        ("Params$^{+}$ (M)", lambda e: e.params_total_m, _count),
        ("MACs$^{+}$ (G/s)", lambda e: _macs_per_second(e.macs_total_g, e.macs_seconds),
         _count),
    ]
    hows = latency_columns(entries)
    for i, how in enumerate(hows):
        mark = f"$^{{{MARKS[i % len(MARKS)]}}}$" if len(hows) > 1 else ""
        columns.append((f"Latency{mark} (ms)",
                        lambda e, h=how: e.latency_ms if e.latency_how == h else None,
                        lambda v: f"{v:.1f}"))
    shown = []
    for header, get, text in columns:
        if any(get(e) is not None for e in entries):
            shown.append((header, lambda e, g=get, t=text: "--" if g(e) is None else t(g(e))))
    return shown


def _valid(stat: Stat | None) -> bool:
    return stat is not None and stat.mean is not None and not math.isnan(stat.mean)


def _quality(groups: list[Group]) -> list[tuple[Group, Column]]:
    """(test set, metric column) pairs that some row has a value for, registry order."""
    return [(group, column) for group in groups for column in metric_registry.table_columns()
            if any(_valid(e.stats.get(column.key)) for e in group.entries)]


def _rounded(value: float, digits: int) -> str:
    """`value` with `digits` decimals, never a negative zero ("-0.00")."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _minus(number: str) -> str:
    """A typeset minus sign (not a hyphen) in a negative number."""
    return "$-$" + number[1:] if number.startswith("-") else number


def _best(group: Group, column: Column) -> str | None:
    """The best displayed value of a quality column in a test set (ties are all bold)."""
    values = [round(e.stats[column.key].mean, column.digits) for e in group.entries
              if e.source != "delta" and _valid(e.stats.get(column.key))]
    if not values:
        return None
    return _rounded(max(values) if column.higher_is_better else min(values), column.digits)


def _cell(stat: Stat | None, column: Column, best: str | None, with_ci: bool) -> str:
    if not _valid(stat):
        return "--"
    mean = _rounded(stat.mean, column.digits)
    text = _minus(mean)
    text = rf"\textbf{{{text}}}" if mean == best else text
    if with_ci and stat.half_width is not None and not math.isnan(stat.half_width):
        text += rf"{{\scriptsize$\pm${stat.half_width:.{column.digits}f}}}"
    if stat.n_failed:
        text += r"$^{\ast}$"
    return text


def _stack(top: str, bottom: str) -> str:
    """A header of two lines (name over unit or direction) in a right-aligned cell."""
    return rf"\begin{{tabular}}[b]{{@{{}}r@{{}}}}{top}\\{bottom}\end{{tabular}}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _arrow(column: Column) -> str:
    return r"$\uparrow$" if column.higher_is_better else r"$\downarrow$"


def _set_phrase(test_set: TestSet) -> str:
    """A test set as a caption names it: an official set by its list and size, any other by
    its label and fingerprint (the label already says what it is)."""
    if test_set.kind == "official":
        listed = test_set.details.get("list") or "official list"
        return f"{test_set.label} (the {listed}; {test_set.n_mixtures} mixtures)"
    if test_set.short in test_set.label:
        return test_set.label
    return f"{test_set.label} (fingerprint {test_set.short})"


def caption(groups: list[Group], entries: list[Entry], quality: list[tuple[Group, Column]],
            efficiency: list[str], with_ci: bool) -> str:
    """The table's caption: test set(s), what a cell is, units, counting, latency devices."""
    ours = [e for e in entries if e.source == "ours"]
    many = len(groups) > 1
    sets = _join([tex_escape(_set_phrase(g.test_set)) for g in groups])
    parts = [f"Separation results on the test set{'s' if many else ''} {sets}."]
    parts += [tex_escape(note) for g in groups for note in g.notes]
    if ours:
        spread = r" $\pm$ 95\,\% CI half-width" if with_ci else ""
        parts.append(f"Ours: mean{spread} over target speakers.")
    units: dict[str, list[str]] = {}
    for _, column in quality:
        if column.unit and column.label not in units.setdefault(column.unit, []):
            units[column.unit].append(column.label)
    if units:
        parts.append("; ".join(f"{_join([tex_escape(x) for x in labels])} in "
                               f"{tex_escape(unit)}" for unit, labels in units.items()) + ".")
    parts.append("Best of each quality column in bold.")
    if any(_published(e) for e in entries):
        where = r" (under \textit{Published})" if ours else ""
        parts.append(f"Published rows{where} are the numbers of their papers, as collected "
                     r"in each corpus recipe's \texttt{reported.csv}.")
    if any(h.startswith("Params") or h.startswith("MACs") for h in efficiency):
        parts.append("Params and MACs of the separator without the visual encoder"
                     + ("; $^{+}$: with it" if any("+" in h for h in efficiency) else "")
                     + r"; MACs per 1\,s of input"
                     + (" (figures counted on longer inputs scaled to 1\\,s)."
                        if any((e.macs_seconds or 1.0) != 1.0 for e in entries) else "."))
    hows = latency_columns(entries)
    if hows:
        if len(hows) == 1:
            who, _, how = hows[0].partition(": ")
            parts.append(f"Latency ({tex_escape(who)}): {tex_escape(how)}." if how
                         else f"Latency: {tex_escape(hows[0])}.")
        else:
            parts.append("Latency, one column per way it was measured (not comparable across "
                         "columns): " + "; ".join(f"$^{{{MARKS[i % len(MARKS)]}}}$ "
                                                 f"{tex_escape(how)}"
                                                 for i, how in enumerate(hows)) + ".")
    if any(s.n_failed for e in entries for s in e.stats.values()):
        parts.append(r"$^{\ast}$ Some targets could not be scored (NaN with a reason in "
                     r"\texttt{results.csv}); the mean is over the others.")
    return " ".join(parts)


def latex_table(groups: list[Group], with_ci: bool = True, label: str = "tab:avss-bench"
                ) -> str:
    """The leaderboard's test-set groups as one booktabs ``table`` (see the module docstring).

    Test sets are column groups side by side while that fits a page (at most WIDE_COLUMNS
    columns); beyond, each test set is a block of rows under its name, over shared columns.
    """
    groups = [Group(g.test_set, [e for e in g.entries if e.source != "delta"], list(g.notes))
              for g in groups]
    groups = [g for g in groups if g.entries]
    entries = [e for g in groups for e in g.entries]
    quality = _quality(groups)
    efficiency = _efficiency(entries)
    best = {(id(g), c.key): _best(g, c) for g, c in quality}
    side_by_side = len(groups) == 1 or 1 + len(quality) + len(efficiency) <= WIDE_COLUMNS
    if side_by_side:
        shown: list[tuple[Group | None, Column]] = list(quality)
    else:  # one set of quality columns, a block of rows per test set
        keys = list(dict.fromkeys(c.key for _, c in quality))
        shown = [(None, next(c for _, c in quality if c.key == k)) for k in keys]
    width = 1 + len(shown) + len(efficiency)
    both = any(_published(e) for e in entries) and not all(_published(e) for e in entries)

    def row(method: str, blocks: list[Group]) -> str:
        mine = [e for g in blocks for e in g.entries if e.method == method]
        published = _published(mine[0])
        cells = [tex_escape(method.removesuffix(PUBLISHED_SUFFIX) if published else method)]
        for group, column in shown:
            where = group or blocks[0]
            entry = next((e for e in where.entries if e.method == method), None)
            cells.append(_cell(entry.stats.get(column.key) if entry else None, column,
                               best.get((id(where), column.key)), with_ci))
        cells += [cell(mine[0]) for _, cell in efficiency]
        return " & ".join(cells) + r" \\"

    def section(blocks: list[Group]) -> list[str]:
        """Our rows, then the published ones under their own label, of the test sets in
        `blocks` (the labels only when the table has both)."""
        found = [e for g in blocks for e in g.entries]
        ours = list(dict.fromkeys(e.method for e in found if not _published(e)))
        published = list(dict.fromkeys(e.method for e in found if _published(e)))
        out = []
        if both and ours:
            out.append(rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textit{{Ours (measured here)}}}} \\")
        out += [row(m, blocks) for m in ours]
        if both and published:
            if ours:
                out.append(rf"\cmidrule(l){{1-{width}}}")
            out.append(rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textit{{Published}}}} \\")
        out += [row(m, blocks) for m in published]
        return out

    header = ["Method"] + [_stack(tex_escape(c.label), _arrow(c)) for _, c in shown]
    header += [_stack(*h.rsplit(" ", 1)) for h, _ in efficiency]
    lines = [r"\begin{tabular}{@{}l" + "r" * (width - 1) + "@{}}", r"\toprule"]
    if side_by_side and len(groups) > 1 and quality:
        heads, rules, start = [""], [], 2
        for group in groups:
            span = sum(1 for g, _ in quality if g is group)
            if not span:
                continue
            heads.append(rf"\multicolumn{{{span}}}{{c}}{{{tex_escape(group.test_set.label)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        heads += [""] * len(efficiency)
        lines += [" & ".join(heads) + r" \\", "".join(rules)]
    lines += [" & ".join(header) + r" \\"]
    if side_by_side:
        lines += [r"\midrule", *section(groups)]
    else:
        for group in groups:
            name = tex_escape(group.test_set.label)
            lines += [r"\midrule", rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textbf{{{name}}}}} \\",
                      *section([group])]
    lines += [r"\bottomrule", r"\end{tabular}"]
    env = "table*" if width > ONE_COLUMN_MAX else "table"
    text = caption(groups, entries, quality, [h for h, _ in efficiency], with_ci)
    return "\n".join([rf"\begin{{{env}}}[t]", r"\centering", r"\footnotesize",
                      r"\setlength{\tabcolsep}{3pt}", rf"\caption{{{text}}}",
                      rf"\label{{{label}}}", *lines, rf"\end{{{env}}}"])
