"""The robustness figure: each metric against each condition family's parameter, one line per
model, on one y-scale per metric.

Columns are condition families (frames zeroed, frames frozen, offset, resolution, frame rate,
then each corpus family: SNR, RT60, named corpora as categories); rows are the metrics that were
scored (SI-SNRi always; SDRi, PESQ, STOI when `robustness --metrics` asked for them). Every
panel of a metric shares its y-range, so a 0.02 dB change looks like what it is. Each point
carries its 95 % CI bar from robustness.csv; the model's clean value is a dashed line of its
colour (and the point where clean sits on the axis: 0 % frames lost, offset 0, 96 px, 25 fps);
the unprocessed mixture is a grey dotted line: 0 for an improvement (SI-SNRi, SDRi) by
definition, else the values of a model in the CSV whose output is the mixture (SI-SNRi 0 with a
zero-width CI everywhere, as `robustness -m mixture` gives). Target-absent conditions have no
target, so a last panel of the first row shows their leak (output-to-mixture energy, dB, lower
is better) on its own axis.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.data.visual_conditions import KINDS  # noqa: E402
from avss_bench.evaluate.paper_figures import (  # noqa: E402
    ONE_COLUMN,
    TWO_COLUMNS,
    figure_format,
    paper_style,
    save_figure,
)
from avss_bench.metrics.registry import metric_registry  # noqa: E402
from avss_bench.robustness.grid import CLEAN_VALUE  # noqa: E402
from avss_bench.robustness.run import condition_order  # noqa: E402
from avss_bench.robustness.table import base_test_sets  # noqa: E402

AXES = {**KINDS, "snr": "SNR (dB)", "rt60": "RT60 (s)", "speakers": "speakers"}
LEAK = "leak_db"
LEAK_LABEL = "leak (dB, lower is better)"
#: the least y-span of a metric's panels, so that noise-level changes never fill a panel
MIN_SPAN = {"dB": 1.0, "MOS-LQO": 0.2, "": 0.05}
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MAX_COLUMNS = 4
PANEL_W, PANEL_H = 1.65, 1.45  # inches
UNPROCESSED = "unprocessed mixture"
#: characters of the title per inch of figure width before it wraps
TITLE_CHARS_PER_INCH = 12


def plotted_metrics(frame: pd.DataFrame) -> list[str]:
    """SI-SNRi, then the leaderboard's other quality columns that robustness.csv has values
    for (registry order)."""
    keys = ["si_snr_i"]
    for column in metric_registry.table_columns():
        if column.key in keys or column.key not in frame:
            continue
        scored = frame.loc[frame["kind"] != "absent", column.key]
        if pd.to_numeric(scored, errors="coerce").notna().any():
            keys.append(column.key)
    return keys


def unprocessed_models(frame: pd.DataFrame) -> list[str]:
    """Models whose output is the mixture: SI-SNRi 0 with a zero-width CI on every condition
    (the CSV keeps 6 significant digits, so |value| < 1e-3)."""
    found = []
    for model, rows in frame[frame["kind"] != "absent"].groupby("model", sort=False):
        values = rows[["si_snr_i", "si_snr_i_ci_low", "si_snr_i_ci_high"]].astype(float)
        if len(values) and values.notna().all().all() and (values.abs() < 1e-3).all().all():
            found.append(str(model))
    return found


def _label(key: str) -> str:
    column = metric_registry.column(key)
    return column.axis_label if column is not None else key


def _unit(key: str) -> str:
    column = metric_registry.column(key)
    return column.unit if column is not None else ""


def _is_improvement(key: str) -> bool:
    """An improvement over the mixture (SI-SNRi, SDRi): the mixture scores 0 by definition."""
    return any(m.improvement and m.columns[-1].key == key
               for m in metric_registry.all().values())


def _families(frame: pd.DataFrame) -> list[str]:
    kinds = [k for k in dict.fromkeys(frame["kind"]) if k not in ("clean", "absent")]
    return sorted(kinds, key=lambda k: condition_order(k, None)[:2])  # the grid's order


def _values(rows: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = pd.to_numeric(rows[key], errors="coerce").to_numpy(float)
    low = pd.to_numeric(rows.get(f"{key}_ci_low", pd.Series(np.nan, index=rows.index)),
                        errors="coerce").to_numpy(float)
    high = pd.to_numeric(rows.get(f"{key}_ci_high", pd.Series(np.nan, index=rows.index)),
                         errors="coerce").to_numpy(float)
    return mean, low, high


def _errorbar(ax: Axes, xs: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray,
              **kw: object) -> None:
    below = np.where(np.isnan(low), 0.0, mean - low)
    above = np.where(np.isnan(high), 0.0, high - mean)
    ax.errorbar(xs, mean, yerr=np.vstack([below, above]), capsize=1.8, elinewidth=0.6,
                capthick=0.6, markersize=3.2, **kw)


def robustness_figure(frame: pd.DataFrame) -> Figure:
    """The figure of the module docstring, from the rows of robustness.csv."""
    families = _families(frame)
    absent = frame[frame["kind"] == "absent"]
    if not families and absent.empty:
        raise AvssError("no condition besides clean to plot")
    with paper_style():
        return _draw(frame, families, absent)


def _draw(frame: pd.DataFrame, families: list[str], absent: pd.DataFrame) -> Figure:
    metrics = plotted_metrics(frame)
    baselines = unprocessed_models(frame)
    models = [m for m in dict.fromkeys(frame["model"]) if m not in baselines]
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    columns = min(MAX_COLUMNS, max(len(families), 1))
    rows_per_metric = max(1, math.ceil(len(families) / columns))
    leak_at = None
    if not absent.empty:  # a free cell in the first metric's block, else a column of its own
        free = rows_per_metric * columns - len(families)
        leak_at = (divmod(len(families), columns) if free and families
                   else (0, columns if families else 0))
        columns = max(columns, leak_at[1] + 1)
    rows = rows_per_metric * len(metrics)
    width = max(ONE_COLUMN, min(TWO_COLUMNS, columns * PANEL_W + 0.35))
    fig, axes = plt.subplots(rows, columns, figsize=(width, rows * PANEL_H + 0.45),
                             squeeze=False, layout="constrained")
    used: set[tuple[int, int]] = set()
    for m, key in enumerate(metrics):
        panels: list[Axes] = []
        for f, kind in enumerate(families):
            r, c = m * rows_per_metric + f // MAX_COLUMNS, f % MAX_COLUMNS
            used.add((r, c))
            ax = axes[r, c]
            _family_panel(ax, frame, kind, key, models, baselines, colours)
            panels.append(ax)
            if c == 0:
                ax.set_ylabel(_label(key))
        if panels:
            _share_y(panels, frame, key, baselines)
    if leak_at is not None:
        used.add(leak_at)
        _leak_panel(axes[leak_at], absent, models, colours, baselines)
    for r in range(rows):
        for c in range(columns):
            if (r, c) not in used:
                axes[r, c].set_visible(False)
            elif c > 0 and axes[r, c].get_ylabel() != LEAK_LABEL:
                axes[r, c].tick_params(labelleft=False)  # the row's scale is on its left
    _legend(fig, models, colours, baselines, metrics)
    bases = base_test_sets(frame)
    if bases:  # the figure names its test set on its own, away from the report's heading
        title = "Conditions of " + "; ".join(label for label, _ in bases)
        fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * TITLE_CHARS_PER_INCH)),
                     fontsize="medium")
    return fig


def _family_panel(ax: Axes, frame: pd.DataFrame, kind: str, key: str, models: list[str],
                  baselines: list[str], colours: dict[str, str]) -> None:
    points = frame[frame["kind"] == kind]
    categorical = points["value"].isna().any()
    names = list(dict.fromkeys(points["condition"]))
    dodge = 0.12 if categorical and len(models) > 1 else 0.0
    for i, model in enumerate(models):
        mine = points[points["model"] == model]
        clean = frame[(frame["model"] == model) & (frame["kind"] == "clean")]
        colour = colours[model]
        if categorical:
            xs = np.array([names.index(c) for c in mine["condition"]], float)
            xs += dodge * (i - (len(models) - 1) / 2)
            _errorbar(ax, xs, *_values(mine, key), fmt="o", color=colour)
        else:
            line = mine
            if kind in CLEAN_VALUE and not clean.empty:  # clean is a point of this axis
                line = pd.concat([clean.assign(value=CLEAN_VALUE[kind]), mine])
            line = line.assign(value=line["value"].astype(float)).sort_values("value")
            _errorbar(ax, line["value"].to_numpy(float), *_values(line, key), fmt="o-",
                      color=colour)
        if not clean.empty:
            value = float(pd.to_numeric(clean[key], errors="coerce").iloc[0])
            if not math.isnan(value):
                ax.axhline(value, color=colour, linestyle="--", linewidth=0.7, alpha=0.8,
                           zorder=1)
    _baseline(ax, frame, points, kind, key, baselines, categorical, names)
    if categorical:
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_xlabel(AXES.get(kind, "condition"))
    else:
        ax.set_xlabel(AXES.get(kind, kind))
        xs = sorted(set(points["value"].astype(float)) | (
            {CLEAN_VALUE[kind]} if kind in CLEAN_VALUE else set()))
        if len(xs) == 1:  # one corpus of its family (snr5): a short axis around it
            margin = abs(xs[0]) * 0.5 or 1.0
            ax.set_xticks(xs)
            ax.set_xlim(xs[0] - margin, xs[0] + margin)
        if kind in ("lowres", "fps"):  # worse to the right, as for frames lost and offsets
            ax.invert_xaxis()
    ax.grid(True)


def _baseline(ax: Axes, frame: pd.DataFrame, points: pd.DataFrame, kind: str, key: str,
              baselines: list[str], categorical: bool, names: list[str]) -> None:
    """The unprocessed mixture: 0 for an improvement, else the mixture model's values (its
    clean value on a visual axis: the audio is the same whatever happens to the video)."""
    style = {"color": "0.45", "linestyle": ":", "linewidth": 1.0, "zorder": 1}
    if _is_improvement(key):
        ax.axhline(0.0, **style)
        return
    for model in baselines:
        if kind in CLEAN_VALUE:
            clean = frame[(frame["model"] == model) & (frame["kind"] == "clean")]
            if not clean.empty:
                ax.axhline(float(clean[key].iloc[0]), **style)
            continue
        mine = points[points["model"] == model]
        if mine.empty:
            continue
        if categorical:
            xs = [names.index(c) for c in mine["condition"]]
            ax.plot(xs, mine[key].astype(float), "x", color="0.45", markersize=4)
        else:
            line = mine.assign(value=mine["value"].astype(float)).sort_values("value")
            ax.plot(line["value"], line[key].astype(float), "x", **style)


def _share_y(panels: list[Axes], frame: pd.DataFrame, key: str, baselines: list[str]) -> None:
    """One y-range for every panel of a metric: all values, CI bounds, clean and baseline
    lines, at least MIN_SPAN wide."""
    rows = frame[frame["kind"] != "absent"]
    numbers = []
    for column in (key, f"{key}_ci_low", f"{key}_ci_high"):
        if column in rows:
            numbers += pd.to_numeric(rows[column], errors="coerce").dropna().tolist()
    if _is_improvement(key):
        numbers.append(0.0)
    if not numbers:
        return
    low, high = min(numbers), max(numbers)
    least = MIN_SPAN.get(_unit(key), 1.0)
    if high - low < least:
        middle = (high + low) / 2
        low, high = middle - least / 2, middle + least / 2
    pad = 0.08 * (high - low)
    for ax in panels:
        ax.set_ylim(low - pad, high + pad)


def _leak_panel(ax: Axes, absent: pd.DataFrame, models: list[str], colours: dict[str, str],
                baselines: list[str]) -> None:
    """Leak (dB) of each model on each target-absent condition, with its CI."""
    names = list(dict.fromkeys(absent["condition"]))
    for model in models + baselines:
        mine = absent[absent["model"] == model]
        if mine.empty:
            continue
        xs = np.array([names.index(c) for c in mine["condition"]], float)
        colour = colours.get(model, "0.45")
        _errorbar(ax, xs, *_values(mine, LEAK), fmt="s", color=colour)
    ax.axhline(0.0, color="0.45", linestyle=":", linewidth=1.0)  # the mixture passed through
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("target absent")
    ax.yaxis.tick_right()
    ax.yaxis.set_label_position("right")
    ax.set_ylabel(LEAK_LABEL)
    ax.grid(True)


def _legend(fig: Figure, models: list[str], colours: dict[str, str], baselines: list[str],
            metrics: list[str]) -> None:
    handles = [Line2D([], [], color=colours[m], marker="o", markersize=3.2, label=m)
               for m in models]
    handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=0.7,
                          label="clean (model's colour)"))
    improvement = any(_is_improvement(k) for k in metrics)
    if improvement or baselines:
        handles.append(Line2D([], [], color="0.45", linestyle=":", linewidth=1.0,
                              label=UNPROCESSED + (" (0 for improvements)" if improvement
                                                   else "")))
    handles.append(Line2D([], [], color="0.3", marker="|", linestyle="", markersize=6,
                          label="95 % CI"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               handlelength=2.0, columnspacing=1.0)


def robustness_plot(frame: pd.DataFrame, path: Path) -> Path:
    """Write the robustness figure to `path` (PNG, PDF or SVG by its extension)."""
    figure_format(path)  # a wrong extension is refused before any drawing
    try:
        fig = robustness_figure(frame)
    except AvssError as err:
        raise AvssError(str(err), path) from None
    return save_figure(fig, Path(path))
