"""Figures for papers: the efficiency (Pareto) plot and mixture/reference/estimate panels."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.evaluate.leaderboard import Entry  # noqa: E402


def macs_per_second(entry: Entry) -> float | None:
    """MACs (G) per 1 s of input, so methods counted on 1 s and 2 s inputs are comparable."""
    if entry.macs_g is None:
        return None
    return entry.macs_g / (entry.macs_seconds or 1.0)


MARKERS = ("o", "s", "^", "D", "v", "P")


def pareto_plot(entries: list[Entry], path: Path) -> Path:
    """SI-SNRi against MACs per second of input (log scale); marker area by Params.

    Every (method, dataset) with both numbers is a point; datasets get their own marker, and
    our measurements are blue while published figures are grey.
    """
    datasets = list(dict.fromkeys(e.dataset for e in entries))
    points = []
    for entry in entries:
        stat = entry.stats.get("si_snr_i")
        macs = macs_per_second(entry)
        if stat is None or macs is None or macs <= 0 or entry.source == "delta":
            continue
        if math.isnan(stat.mean):
            continue
        points.append((entry, macs, stat.mean))
    if not points:
        raise AvssError("no method has both SI-SNRi and MACs to plot (run `avss-bench profile "
                        "--json > RESULTS/<model>/profile.json`)", path)
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=150)
    for entry, macs, value in points:
        reported = entry.source != "ours"
        size = 40 + 50 * (entry.params_m or 0.5)
        marker = MARKERS[datasets.index(entry.dataset) % len(MARKERS)]
        source = "published" if reported else "this run"
        ax.scatter(macs, value, s=size, alpha=0.65, edgecolors="black", marker=marker,
                   color="tab:gray" if reported else "tab:blue",
                   label=f"{entry.dataset}, {source}")
        name = entry.method.removesuffix(" (reported)")
        ax.annotate(name, (macs, value), textcoords="offset points",
                    xytext=(4 + math.sqrt(size) / 2, 4), fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="best", fontsize=7, markerscale=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("MACs (G per 1 s of input, log scale)")
    ax.set_ylabel("SI-SNRi (dB)")
    ax.set_title("Quality vs. compute (marker area ∝ Params)")
    ax.grid(True, which="both", alpha=0.3)
    xs = [p[1] for p in points]
    ax.set_xlim(min(xs) / 3, max(xs) * 5)
    ys = [p[2] for p in points]
    pad = max(1.0, 0.15 * (max(ys) - min(ys)))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _spectrogram(ax, signal: np.ndarray, rate: int) -> None:
    ax.specgram(signal + 1e-9, NFFT=512, Fs=rate, noverlap=384, cmap="magma",
                scale="dB", vmin=-120)
    ax.set_ylabel("Hz")


def example_panels(results_dir: Path, out_dir: Path, limit: int = 4) -> list[Path]:
    """Waveform and spectrogram of mixture / reference / estimate for kept example wavs."""
    import soundfile as sf

    from avss_bench.evaluate.results import read_summary
    from avss_bench.io.manifest import manifest_path, read_manifest, resolve_path

    summary = read_summary(results_dir)
    manifest = manifest_path(summary["data"], summary["split"])
    rows = read_manifest(manifest).set_index("mixture_id")
    examples = sorted((results_dir / "examples").glob("*.wav"))[:limit]
    if not examples:
        raise AvssError("no example wavs (run evaluate with --save-audio N)", results_dir)
    written = []
    for example in examples:
        mixture_id, target = example.stem.rsplit("_", 1)
        row = rows.loc[mixture_id]
        signals = {
            "mixture": sf.read(resolve_path(manifest, row["mix_path"]))[0],
            f"reference ({target})": sf.read(resolve_path(manifest, row[f"{target}_path"]))[0],
            "estimate": sf.read(example)[0],
        }
        rate = 16000
        fig, axes = plt.subplots(3, 2, figsize=(10, 6.5), dpi=120, sharex="col")
        for (name, signal), (wave_ax, spec_ax) in zip(signals.items(), axes, strict=True):
            t = np.arange(len(signal)) / rate
            wave_ax.plot(t, signal, linewidth=0.5)
            wave_ax.set_ylabel("amplitude")
            wave_ax.set_title(name, fontsize=9, loc="left")
            _spectrogram(spec_ax, signal, rate)
            spec_ax.set_title(name, fontsize=9, loc="left")
        axes[-1][0].set_xlabel("time (s)")
        axes[-1][1].set_xlabel("time (s)")
        fig.suptitle(f"{summary.get('model', '')}: {mixture_id}, target {target}", fontsize=10)
        fig.tight_layout()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{mixture_id}_{target}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
