"""Figures for papers: the efficiency (Pareto) plot of one test set and the
mixture/reference/estimate panels of the examples `evaluate` kept."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avss_bench.core.atomic import atomic_path  # noqa: E402
from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.evaluate.leaderboard import Entry, Group  # noqa: E402
from avss_bench.metrics.registry import metric_registry  # noqa: E402


def macs_per_second(entry: Entry) -> float | None:
    """MACs (G) per 1 s of input, so methods counted on 1 s and 2 s inputs are comparable."""
    if entry.macs_g is None:
        return None
    return entry.macs_g / (entry.macs_seconds or 1.0)


def pareto_points(entries: list[Entry]) -> list[tuple[Entry, float, float]]:
    """(entry, MACs per second, SI-SNRi) of every row with both (Δ rows left out)."""
    points = []
    for entry in entries:
        stat = entry.stats.get("si_snr_i")
        macs = macs_per_second(entry)
        if stat is None or macs is None or macs <= 0 or entry.source == "delta":
            continue
        if not math.isnan(stat.mean):
            points.append((entry, macs, stat.mean))
    return points


def pareto_plot(entries: list[Entry], path: Path, title: str | None = None) -> Path:
    """SI-SNRi against MACs per second of input (log scale); marker area by Params.

    The entries are those of one test set (a `leaderboard.Group`: results on other sets are
    not comparable and get their own figure); our measurements are blue circles, published
    figures grey squares. The title names the test set.
    """
    sets = {e.test_set.fingerprint for e in entries}
    if len(sets) > 1:
        raise AvssError("a Pareto plot shows one test set; plot each group on its own", path)
    points = pareto_points(entries)
    if not points:
        raise AvssError("no method has both SI-SNRi and MACs to plot (run `avss-bench profile "
                        "--json > RESULTS/<model>/profile.json`)", path)
    column = metric_registry.column("si_snr_i")
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=150)
    for entry, macs, value in points:
        reported = entry.source != "ours"
        size = 40 + 50 * (entry.params_m or 0.5)
        ax.scatter(macs, value, s=size, alpha=0.65, edgecolors="black",
                   marker="s" if reported else "o",
                   color="tab:gray" if reported else "tab:blue",
                   label="published" if reported else "this run")
        name = entry.method.removesuffix(" (reported)")
        ax.annotate(name, (macs, value), textcoords="offset points",
                    xytext=(4 + math.sqrt(size) / 2, 4), fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="best", fontsize=7, markerscale=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("MACs (G per 1 s of input, log scale)")
    ax.set_ylabel(column.axis_label if column is not None else "SI-SNRi (dB)")
    heading = title or points[0][0].test_set.label
    ax.set_title(f"Quality vs. compute on {heading} (marker area ∝ Params)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    xs = [p[1] for p in points]
    ax.set_xlim(min(xs) / 3, max(xs) * 5)
    ys = [p[2] for p in points]
    pad = max(1.0, 0.15 * (max(ys) - min(ys)))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def pareto_plots(groups: list[Group], path: Path) -> list[tuple[Path, Group]]:
    """One Pareto plot per test set that has points: `path` itself when only one has, else
    `<stem>-<fingerprint prefix><suffix>` per set. None at all is an error."""
    plottable = [group for group in groups if pareto_points(group.entries)]
    if not plottable:
        raise AvssError("no method has both SI-SNRi and MACs to plot (run `avss-bench profile "
                        "--json > RESULTS/<model>/profile.json`)", path)
    written = []
    for group in plottable:
        target = path if len(plottable) == 1 else path.with_name(
            f"{path.stem}-{group.test_set.short}{path.suffix}")
        written.append((pareto_plot(group.entries, target), group))
    return written


def _spectrogram(ax, signal: np.ndarray, rate: int) -> None:
    ax.specgram(signal + 1e-9, NFFT=512, Fs=rate, noverlap=384, cmap="magma",
                scale="dB", vmin=-120)
    ax.set_ylabel("Hz")


def example_panels(results_dir: Path, out_dir: Path, limit: int = 4) -> list[Path]:
    """Waveform and spectrogram of mixture / reference / estimate for the examples `evaluate
    --save-audio N` kept, titled with what each was chosen from (examples.json)."""
    import soundfile as sf

    from avss_bench.evaluate.examples import EXAMPLES, read_examples
    from avss_bench.evaluate.results import read_summary
    from avss_bench.io.manifest import manifest_path, read_manifest, resolve_path

    summary = read_summary(results_dir)
    manifest = manifest_path(summary["data"], summary["split"])
    rows = read_manifest(manifest).set_index("mixture_id")
    chosen = [(results_dir / EXAMPLES / e["file"], e["mixture_id"], e["target"], e["why"])
              for e in read_examples(results_dir) if e.get("file")]
    if not chosen:  # kept before examples.json existed: the wavs, without a reason
        chosen = [(p, *p.stem.rsplit("_", 1), "kept estimate")
                  for p in sorted((results_dir / EXAMPLES).glob("*.wav"))]
    chosen = [c for c in chosen if c[0].is_file()][:limit]
    if not chosen:
        raise AvssError("no example wavs (run evaluate with --save-audio N)", results_dir)
    label = summary.get("name") or summary.get("model", "")
    written = []
    for example, mixture_id, target, why in chosen:
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
        fig.suptitle(f"{label}: {mixture_id}, target {target} ({why})", fontsize=9)
        fig.tight_layout()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{mixture_id}_{target}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(path)
    return written
