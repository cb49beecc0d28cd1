"""Noise corpora in their real layouts: which files a split draws from, and a seeded segment.

Layouts read (as /work/shared/data/noise/README.md lists them):

* WHAM! noise: `[wham_noise/]{tr,cv,tt}/*.wav` -> each split draws from its own folder, so
  train and test noise never overlap (the WHAM! split);
* MUSAN: `[musan/]noise/<subset>/*.wav` -> only the `noise` part (not music or speech), every
  split draws from all of it (MUSAN has no splits);
* DEMAND: `<ENVIRONMENT>/ch01.wav ... ch16.wav` -> channel 1 of each environment, all splits;
* anything else: every `*.wav` under DIR, all splits.

Files at another rate (DEMAND is 48 kHz) are resampled to 16 kHz with `resample_poly`;
multichannel files give their first channel; a file shorter than the mixture is repeated.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError

SPLIT_DIRS = ("tr", "cv", "tt")


def noise_layout(root: Path) -> tuple[str, Path]:
    """(layout name, the folder it lives in) of a noise corpus."""
    root = Path(root)
    if not root.is_dir():
        raise AvssError("--noise: not a directory", root)
    for base in (root / "wham_noise", root):
        if all((base / s).is_dir() for s in SPLIT_DIRS):
            return "wham", base
    for base in (root / "musan", root):
        if (base / "noise").is_dir() and ((base / "music").is_dir() or (base / "speech").is_dir()
                                          or base.name == "musan"):
            return "musan", base / "noise"
    if any(root.glob("*/ch01.wav")):
        return "demand", root
    return "folder", root


def noise_files(root: Path, split: str) -> tuple[str, Path, list[Path]]:
    """(layout, base folder, sorted files) a split draws its noise from."""
    layout, base = noise_layout(root)
    if layout == "wham":
        files = sorted((base / split).rglob("*.wav"))
    elif layout == "demand":
        files = sorted(base.glob("*/ch01.wav"))
    else:
        files = sorted(base.rglob("*.wav"))
    if not files:
        raise AvssError(f"--noise: no .wav files for split {split} ({layout} layout)", base)
    return layout, base, files


def read_mono_16k(path: str | Path) -> np.ndarray:
    """The first channel of a sound file at 16 kHz, float64 (int16 files: `int16 / 32768`)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvssError(f"cannot read: {err}", path) from err
    x = data[:, 0]
    if rate != SAMPLE_RATE:
        g = math.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g)
    return x


def length_16k(path: Path) -> int:
    """Samples of a file once at 16 kHz (from its header)."""
    import soundfile as sf

    info = sf.info(str(path))
    return int(round(info.frames * SAMPLE_RATE / info.samplerate))


def noise_segment(path: str | Path, offset: int, n: int) -> np.ndarray:
    """`n` samples of the noise from `offset` (16 kHz), the file repeated when too short."""
    x = read_mono_16k(path)
    if x.size == 0:
        raise AvssError("empty noise file", path)
    need = offset + n
    if x.size < need:
        x = np.tile(x, math.ceil(need / x.size))
    return x[offset:offset + n]
