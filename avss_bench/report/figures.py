"""The report's PNGs: per-metric distributions, small spectrograms and lip-ROI strips.

Each figure is written atomically; they are plain files the page links (no inline data), so the
HTML stays small and the images can be reused in a paper.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avss_bench.core.atomic import atomic_path  # noqa: E402
from avss_bench.metrics.registry import metric_registry  # noqa: E402
from avss_bench.report.runs import Run  # noqa: E402


def axis_label(key: str) -> str:
    """A results column's label with its unit (the metric registry), else the key."""
    column = metric_registry.column(key)
    return key if column is None else column.axis_label


def label(key: str) -> str:
    """A results column's label without its unit."""
    column = metric_registry.column(key)
    return key if column is None else column.label


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def distribution(runs: list[Run], metric: str, path: Path, title: str = "") -> Path:
    """Each run's per-utterance values of `metric` as an empirical CDF (failures left out
    and counted in the legend). The runs are those of one test set, named by `title`."""
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    for run in runs:
        if metric not in run.results:
            continue
        values = run.results[metric].to_numpy(dtype=float)
        good = np.sort(values[np.isfinite(values)])
        failed = int(values.size - good.size)
        name = run.entry.method + (f", {failed} failed" if failed else "")
        if good.size:
            ax.step(good, np.arange(1, good.size + 1) / good.size, where="post", label=name)
    ax.set_xlabel(axis_label(metric))
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_ylabel("fraction of targets ≤ x")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def distribution_csv(runs: list[Run], metric: str, path: Path) -> Path:
    """The values behind a distribution figure: method, test set, target and value per row."""
    import pandas as pd

    frames = [run.results[["mixture_id", "target", metric]].assign(
        method=run.entry.method, dataset=run.entry.dataset) for run in runs
        if metric in run.results]
    frame = pd.concat(frames, ignore_index=True)[["method", "dataset", "mixture_id", "target",
                                                  metric]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return path


def spectrogram(signal: np.ndarray, rate: int, path: Path, title: str) -> Path:
    """A small log-magnitude spectrogram (0 to rate/2, 1 dB colour steps of a fixed range)."""
    fig, ax = plt.subplots(figsize=(4.2, 1.6), dpi=90)
    with np.errstate(divide="ignore"):  # an exactly silent stretch is -inf dB: drawn as vmin
        ax.specgram(np.asarray(signal, dtype=float) + 1e-9, NFFT=512, Fs=rate, noverlap=384,
                    cmap="magma", scale="dB", vmin=-120)
    ax.set_title(title, fontsize=8, loc="left")
    ax.tick_params(labelsize=6)
    ax.set_ylabel("Hz", fontsize=6)
    fig.tight_layout(pad=0.3)
    return _save(fig, path)


def lip_strip(frames: np.ndarray, path: Path, count: int = 10) -> Path:
    """`count` evenly spaced mouth ROIs side by side (grey), as one PNG."""
    frames = np.asarray(frames)
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    strip = np.concatenate([frames[i] for i in picks], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        plt.imsave(tmp, strip, cmap="gray", vmin=0, vmax=255, format="png")
    return path
