"""The robustness figure: SI-SNRi against each condition's parameter, one line per model."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from avss_bench.core.atomic import atomic_path  # noqa: E402
from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.data.visual_conditions import KINDS  # noqa: E402
from avss_bench.metrics.registry import metric_registry  # noqa: E402
from avss_bench.robustness.grid import CLEAN_VALUE  # noqa: E402
from avss_bench.robustness.run import condition_order  # noqa: E402

AXES = {**KINDS, "snr": "SNR (dB)", "rt60": "RT60 (s)", "speakers": "speakers"}


def robustness_plot(frame: pd.DataFrame, path: Path) -> Path:
    """One panel per kind of condition (missing frames, offset, resolution, frame rate, SNR...).

    In each panel every model is a line of SI-SNRi (dB) against the condition's parameter.
    The clean point is a star on the line where the clean input sits on that axis (0 % frames
    lost, offset 0, 96 px, 25 fps) and a dashed horizontal line of the model's colour where it
    has no place on the axis (SNR, RT60, named corpora, which are drawn as categories).
    Target-absent conditions have no SI-SNRi: a last panel shows their leak (output-to-mixture
    energy, dB, lower is better), one marker per model.
    """
    kinds = sorted((k for k in dict.fromkeys(frame["kind"]) if k not in ("clean", "absent")),
                   key=lambda k: condition_order(k, None)[:2])  # the grid's order of kinds
    absent = frame[frame["kind"] == "absent"]
    if not kinds and absent.empty:
        raise AvssError("no condition besides clean to plot", path)
    models = list(dict.fromkeys(frame["model"]))
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    panels = len(kinds) + (not absent.empty)
    columns = min(3, panels)
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), dpi=120,
                             squeeze=False)
    for ax, kind in zip(axes.flat, kinds, strict=False):
        points = frame[frame["kind"] == kind]
        categorical = points["value"].isna().any()
        names = list(dict.fromkeys(points["condition"]))
        for model in models:
            mine = points[points["model"] == model]
            clean = frame[(frame["model"] == model) & (frame["kind"] == "clean")]
            colour = colours[model]
            if categorical:
                xs = [names.index(c) for c in mine["condition"]]
                ax.plot(xs, mine["si_snr_i"], "o", color=colour, label=model)
            else:
                line = mine[["value", "si_snr_i"]].astype(float)
                if kind in CLEAN_VALUE and not clean.empty:
                    line = pd.concat([line, pd.DataFrame(
                        {"value": [CLEAN_VALUE[kind]], "si_snr_i": [clean["si_snr_i"].iloc[0]]})])
                line = line.sort_values("value")
                ax.plot(line["value"], line["si_snr_i"], "o-", color=colour, label=model)
            if clean.empty:
                continue
            value = float(clean["si_snr_i"].iloc[0])
            if kind in CLEAN_VALUE and not categorical:
                ax.plot([CLEAN_VALUE[kind]], [value], "*", color=colour, markersize=14,
                        markeredgecolor="black", label=f"{model}, clean")
            else:
                ax.axhline(value, color=colour, linestyle="--", linewidth=1,
                           label=f"{model}, clean")
        if categorical:
            ax.set_xticks(range(len(names)), names, rotation=20)
        ax.set_xlabel(AXES.get(kind, kind))
        ax.set_ylabel(metric_registry.column("si_snr_i").axis_label)
        ax.grid(alpha=0.3)
    if not absent.empty:
        _leak_panel(list(axes.flat)[len(kinds)], absent, colours)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    legend: dict[str, object] = {}  # every panel's entries once (stars and dashed lines)
    for ax in axes.flat:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(text, handle)
    handles, labels = list(legend.values()), list(legend)
    fig.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _leak_panel(ax: plt.Axes, absent: pd.DataFrame, colours: dict[str, object]) -> None:
    """Leak (dB) of each model on each target-absent condition, drawn as categories."""
    names = list(dict.fromkeys(absent["condition"]))
    for model, mine in absent.groupby("model", sort=False):
        ax.plot([names.index(c) for c in mine["condition"]], mine["leak_db"], "s",
                color=colours[model], label=model)
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)  # the mixture passed through
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_xlabel("target absent")
    ax.set_ylabel("leak (dB, lower is better)")
    ax.grid(alpha=0.3)
