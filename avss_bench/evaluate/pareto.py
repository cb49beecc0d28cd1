"""The efficiency figure of a paper: SI-SNRi against MACs per 1 s of input, one panel per test
set, sized for one column.

Each panel is one test set, a `leaderboard.Group` (results are only comparable on the same
one): x is MACs per 1 s of input on a log scale, y is SI-SNRi, a marker's area grows with the
separator's Params (size key below), our results are blue circles and published figures grey
squares, the Pareto frontier (no other point of the panel is both cheaper and better) is a
dashed staircase, and every marker is labelled where its label covers no other label and no
marker (`label_placement`). `avss-bench table --plot FILE` writes it as PNG, PDF or SVG by
extension.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.evaluate.label_placement import Marker, place_labels  # noqa: E402
from avss_bench.evaluate.leaderboard import Entry, Group  # noqa: E402
from avss_bench.evaluate.paper_figures import (  # noqa: E402
    ONE_COLUMN,
    figure_format,
    paper_style,
    save_figure,
)
from avss_bench.metrics.registry import metric_registry  # noqa: E402

QUALITY = "si_snr_i"
OURS_COLOUR, PUBLISHED_COLOUR = "#0072B2", "#8c8c8c"  # blue and grey, told apart in greyscale
OURS_MARKER, PUBLISHED_MARKER = "o", "s"
PUBLISHED_SUFFIX = " (reported)"
#: marker area (pt^2) = AREA_BASE + AREA_PER_M * Params (M): area grows linearly with Params
AREA_BASE, AREA_PER_M = 12.0, 4.0
SIZE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
XLABEL = "MACs (G per 1 s of input, log scale)"
#: inches of the figure: each panel (taller when crowded), the gaps, the legend, the x axis
PANEL_HEIGHTS = (1.9, 2.5, 3.2)
GAP_H, TOP_H, BOTTOM_H = 0.55, 0.45, 0.36


def macs_per_second(entry: Entry) -> float | None:
    """MACs (G) per 1 s of input, so methods counted on 1 s and 2 s inputs are comparable."""
    if entry.macs_g is None:
        return None
    return entry.macs_g / (entry.macs_seconds or 1.0)


@dataclass
class Point:
    """One method on one test set as the figure draws it."""

    name: str
    macs: float
    value: float
    params: float | None
    ours: bool

    @property
    def area(self) -> float:
        return marker_area(self.params)

    @property
    def radius_pt(self) -> float:
        return math.sqrt(self.area) / 2


def marker_area(params_m: float | None) -> float:
    """Marker area in pt^2 for a model of `params_m` million parameters (base size if unknown)."""
    return AREA_BASE + AREA_PER_M * (params_m or 0.0)


def panel_title(group: Group, groups: list[Group]) -> str:
    """A test set's label, with its fingerprint when another set has the same label."""
    label = group.test_set.label
    if sum(g.test_set.label == label for g in groups) > 1:
        label += f" [{group.test_set.short}]"
    return label


def panels(groups: list[Group]) -> dict[str, list[Point]]:
    """The points of each test set (a `leaderboard.Group`) that has any, by panel title:
    methods with both SI-SNRi and MACs."""
    out: dict[str, list[Point]] = {}
    for group in groups:
        for entry in group.entries:
            stat = entry.stats.get(QUALITY)
            macs = macs_per_second(entry)
            if entry.source == "delta" or stat is None or macs is None or macs <= 0:
                continue
            if stat.mean is None or math.isnan(stat.mean):
                continue
            ours = entry.source == "ours"
            name = entry.method if ours else entry.method.removesuffix(PUBLISHED_SUFFIX)
            out.setdefault(panel_title(group, groups), []).append(
                Point(name, macs, stat.mean, entry.params_m, ours))
    for points in out.values():  # ours named like a published method: say which is which
        published = {p.name for p in points if not p.ours}
        for point in points:
            if point.ours and point.name in published:
                point.name += " (ours)"
    return out


def frontier(points: list[Point]) -> list[Point]:
    """The Pareto-optimal points, cheapest first: none of the others is both cheaper (or as
    cheap) and better."""
    best, out = -math.inf, []
    for point in sorted(points, key=lambda p: (p.macs, -p.value)):
        if point.value > best:
            out.append(point)
            best = point.value
    return out


def _staircase(points: list[Point], right: float) -> np.ndarray:
    """The frontier as a step line: flat until the next point improves, to the right edge."""
    xy = []
    for i, point in enumerate(points):
        xy.append((point.macs, point.value))
        following = points[i + 1].macs if i + 1 < len(points) else right
        xy.append((following, point.value))
    return np.array(xy)


def _size_steps(params: list[float]) -> list[float]:
    """Round Params values spanning the drawn models for the size key: the powers of ten in
    their range, and a larger round value near the biggest model."""
    if not params:
        return []
    low, high = min(params) * 0.7, max(params) * 1.3
    steps = [s for s in SIZE_STEPS if low <= s <= high and math.log10(s).is_integer()]
    larger = [s for s in SIZE_STEPS if low <= s <= high and (not steps or s >= 3 * steps[-1])]
    if larger:
        steps.append(larger[-1])
    steps = steps[-4:]  # the key fits one line of a column
    if not steps:
        steps = [min(SIZE_STEPS, key=lambda s: abs(math.log(s / max(min(params), 1e-3))))]
    return steps


def _g(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def pareto_figure(groups: list[Group]) -> tuple[Figure, list[str]]:
    """The figure (see the module docstring) and the labels that found no room.

    A panel too crowded for every label at the one-column size grows taller (up to
    PANEL_HEIGHTS[-1]); labels that still find no room are left out of the panel and named in
    its title, so none is ever drawn over another. Returns those names ("test set: method").
    """
    found = panels(groups)
    if not found:
        raise AvssError("no method has both SI-SNRi and MACs to plot (run `avss-bench profile "
                        "--json > RESULTS/<model>/profile.json`)")
    unlabelled: dict[str, list[str]] = {}
    with paper_style():
        attempts = len(PANEL_HEIGHTS) + 2
        for attempt in range(attempts):
            height = PANEL_HEIGHTS[min(attempt, len(PANEL_HEIGHTS) - 1)]
            fig, missing = _draw(found, height, unlabelled)
            if not any(missing.values()) or attempt == attempts - 1:
                return fig, [f"{t}: {name}" for found in (unlabelled, missing)
                             for t, names in found.items() for name in names]
            plt.close(fig)
            if attempt >= len(PANEL_HEIGHTS) - 1:  # as tall as it gets: name them instead
                for test_set, names in missing.items():
                    unlabelled.setdefault(test_set, []).extend(names)
    raise AssertionError("unreachable")


def _draw(groups: dict[str, list[Point]], panel_h: float, unlabelled: dict[str, list[str]]
          ) -> tuple[Figure, dict[str, list[str]]]:
    """The figure at `panel_h` inches per panel, leaving out the labels in `unlabelled` (named
    in their panel's title); returns it and the labels that found no room."""
    count = len(groups)
    height = TOP_H + count * panel_h + (count - 1) * GAP_H + BOTTOM_H
    fig, axes = plt.subplots(count, 1, figsize=(ONE_COLUMN, height), squeeze=False,
                             layout="constrained")
    every = [p for points in groups.values() for p in points]
    label = metric_registry.column(QUALITY)
    ylabel = label.axis_label if label is not None else "SI-SNRi (dB)"
    for ax, (test_set, points) in zip(axes[:, 0], groups.items(), strict=True):
        # each panel its own range (a demo model at 0.06 G/s would squeeze the published
        # ones), with room for labels right of the biggest
        low, high = min(p.macs for p in points), max(p.macs for p in points)
        xlim = (low / 2.2, high * 3.0)
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_xlabel(XLABEL)
        values = [p.value for p in points]
        spread = max(values) - min(values)
        pad = max(1.0, 0.14 * spread)
        ax.set_ylim(min(values) - pad, max(values) + pad)
        ax.set_ylabel(ylabel)
        ax.set_title(test_set, loc="left", fontweight="bold")
        if unlabelled.get(test_set):
            names = textwrap.fill(", ".join(unlabelled[test_set]), 70)
            ax.set_title(f"not labelled (no room): {names}", loc="right", fontsize=5)
        ax.grid(True, which="major")
        decades = math.log10(xlim[1] / xlim[0])
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,) if decades > 2.2
                                              else (1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(_g))
        ax.xaxis.set_minor_formatter(NullFormatter())
        best = frontier(points)
        steps = _staircase(best, xlim[1])
        ax.plot(steps[:, 0], steps[:, 1], linestyle=(0, (4, 2)), color="black",
                linewidth=0.7, zorder=1)
        for point in sorted(points, key=lambda p: -p.area):  # small markers stay on top
            ax.scatter([point.macs], [point.value], s=point.area,
                       marker=OURS_MARKER if point.ours else PUBLISHED_MARKER,
                       color=OURS_COLOUR if point.ours else PUBLISHED_COLOUR,
                       alpha=0.85 if point.ours else 0.6, edgecolors="black",
                       linewidths=0.5, zorder=3 if point.ours else 2)
    _legend(fig, every)
    fig.canvas.draw()  # constrained layout places axes and legend once; then it is frozen
    fig.set_layout_engine("none")  # so that the labels measured below stay where they go
    missing: dict[str, list[str]] = {}
    for ax, (test_set, points) in zip(axes[:, 0], groups.items(), strict=True):
        markers = [Marker(p.macs, p.value, p.radius_pt) for p in points]
        lines = [_staircase(frontier(points), ax.get_xlim()[1])]
        skip = set(unlabelled.get(test_set, []))
        ours_style = {"fontweight": "bold", "color": OURS_COLOUR}
        _, missing[test_set] = place_labels(
            ax, markers, ["" if p.name in skip else p.name for p in points], lines=lines,
            styles=[ours_style if p.ours else {} for p in points],
            first=[i for i, p in enumerate(points) if p.ours], fontsize=6)
    return fig, missing


def _legend(fig: Figure, points: list[Point]) -> None:
    """Ours / published / frontier above the panels; the key of marker areas (Params) below."""
    params = [p.params for p in points if p.params is not None]
    kinds = [Line2D([], [], marker=OURS_MARKER, linestyle="", color=OURS_COLOUR,
                    markeredgecolor="black", markeredgewidth=0.5, markersize=5,
                    label="ours (measured here)"),
             Line2D([], [], marker=PUBLISHED_MARKER, linestyle="", color=PUBLISHED_COLOUR,
                    markeredgecolor="black", markeredgewidth=0.5, markersize=5, alpha=0.6,
                    label="published"),
             Line2D([], [], linestyle=(0, (4, 2)), color="black", linewidth=0.7,
                    label="Pareto frontier")]
    drawn = {"ours (measured here)": any(p.ours for p in points),
             "published": not all(p.ours for p in points), "Pareto frontier": True}
    kinds = [k for k in kinds if drawn[k.get_label()]]
    fig.legend(handles=kinds, loc="outside upper center", ncol=len(kinds), handletextpad=0.3,
               handlelength=2.0, columnspacing=1.0, borderaxespad=0.2)
    sizes = [Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                    markeredgecolor="0.25", markeredgewidth=0.5,
                    markersize=math.sqrt(marker_area(s)), label=f"{s:g} M")
             for s in _size_steps(params)]
    if sizes:
        fig.legend(handles=sizes, loc="outside lower center", ncol=len(sizes),
                   title="marker area ∝ Params (separator)", title_fontsize=6,
                   handletextpad=0.1, handlelength=2.8, handleheight=3.2,
                   columnspacing=0.8, borderaxespad=0.2)


def pareto_csv(groups: list[Group], path: Path) -> Path:
    """Write what the Pareto figure shows as CSV: one row per point (test set, method, ours or
    published, MACs per 1 s, SI-SNRi, Params, on the frontier or not)."""
    import pandas as pd

    from avss_bench.core.atomic import atomic_path

    rows = []
    for test_set, points in panels(groups).items():
        best = {id(p) for p in frontier(points)}
        rows += [{"test_set": test_set, "method": p.name,
                  "source": "ours" if p.ours else "published",
                  "macs_g_per_1s": p.macs, "si_snr_i_db": p.value, "params_m": p.params,
                  "on_frontier": id(p) in best} for p in points]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    return Path(path)


def pareto_plot(groups: list[Group], path: Path) -> Path:
    """Write the Pareto figure of the test-set groups to `path` (PNG, PDF or SVG by its
    extension)."""
    figure_format(path)  # a wrong extension is refused before any drawing
    fig, _ = pareto_figure(groups)
    return save_figure(fig, Path(path))
