"""Mixture/reference/estimate panels of the examples `evaluate` kept; the Pareto figure lives
in `pareto`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avss_bench.core.atomic import atomic_path  # noqa: E402
from avss_bench.core.errors import AvssError  # noqa: E402
from avss_bench.evaluate.pareto import macs_per_second, pareto_plot  # noqa: E402, F401


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
