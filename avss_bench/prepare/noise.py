"""Noise corpora in their real layouts: which files a split draws from, and a seeded segment.

Layouts read (as /work/shared/data/noise/README.md lists them):

* WHAM! noise: `[wham_noise/]{tr,cv,tt}/*.wav` -> each split draws from its own folder, so
  train and test noise never overlap (the WHAM! split);
* MUSAN: `[musan/]noise/<subset>/*.wav` -> only the `noise` part (not music or speech). MUSAN
  has no splits, so we make one at the file level: `split_assignment` (80/10/10 % tr/cv/tt);
* DEMAND: `<ENVIRONMENT>/ch01.wav ... ch16.wav` -> channel 1 of each environment. No splits
  either; ours is at the environment level (60/20/20 %): one environment is one continuous
  recording session whose 16 channels are the same sound scene, so any cut finer than the
  environment (channels, or time spans of one session) would leave train and test sharing the
  same noise source; test environments are unseen in training, as in VoiceBank-DEMAND, whose
  test noises are DEMAND environments absent from its training set;
* anything else: every `*.wav` under DIR, all splits (no rule is known: they may overlap).

The MUSAN and DEMAND splits are deterministic and independent of `--seed`, so every prepared
copy of a corpus (any seed, any condition) tests on the same noise: the items (file paths under
`noise/`, environment names) are ordered by the sha256 of `avss-bench-noise-split:<item>`, the
first go to tr, then cv, then tt (at least one each; fewer than 3 items is an error). The rule
used is recorded in report.json (`options.conditions.noise_split`).

Files at another rate (DEMAND is 48 kHz) are resampled to 16 kHz with `resample_poly`;
multichannel files give their first channel; a file shorter than the mixture is repeated.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.io.manifest import canonical_split

SPLIT_DIRS = ("tr", "cv", "tt")
#: (tr, cv, tt) fractions of the corpora without official splits: MUSAN's 930 noise files give
#: 744/93/93; DEMAND's 18 environments give 10/4/4 (about VoiceBank-DEMAND's 5 test noises).
SPLIT_FRACTIONS = {"musan": (0.8, 0.1, 0.1), "demand": (0.6, 0.2, 0.2)}
#: What each layout's split is, as report.json records it.
SPLIT_RULES = {
    "wham": "official: the corpus's own tr/cv/tt folders",
    "musan": "file-level, 80/10/10 % tr/cv/tt by sha256 of each file's path under noise/ "
             "(avss-bench-noise-split)",
    "demand": "environment-level, 60/20/20 % tr/cv/tt by sha256 of each environment's name "
              "(avss-bench-noise-split); ch01.wav of each",
    "folder": "none: every split draws from every file (train and test noise may overlap)",
}


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


def split_assignment(items: list[str], fractions: tuple[float, float, float],
                     what: str = "items") -> dict[str, str]:
    """item -> tr / cv / tt: ordered by sha256, the first to tr, then cv, then tt.

    cv and tt get `round(n * fraction)` items but at least one each, tr the rest (at least
    one); the order of `items` does not matter.
    """
    n = len(items)
    if n < 3:
        raise AvssError(f"--noise: {n} {what}: at least 3 are needed to give tr, cv and tt "
                        "disjoint noise")
    n_cv, n_tt = (max(1, round(n * f)) for f in fractions[1:])
    n_cv = min(n_cv, n - 2)
    n_tt = min(n_tt, n - 1 - n_cv)
    order = sorted(items, key=lambda item: (hashlib.sha256(
        f"avss-bench-noise-split:{item}".encode()).hexdigest(), item))
    names = ["tr"] * (n - n_cv - n_tt) + ["cv"] * n_cv + ["tt"] * n_tt
    return dict(zip(order, names, strict=True))


def noise_files(root: Path, split: str) -> tuple[str, Path, list[Path]]:
    """(layout, base folder, sorted files) a split draws its noise from (SPLIT_RULES)."""
    layout, base = noise_layout(root)
    if layout == "wham":
        files = sorted((base / split).rglob("*.wav"))
    elif layout == "demand":
        envs = sorted(p.parent.name for p in base.glob("*/ch01.wav"))
        where = split_assignment(envs, SPLIT_FRACTIONS["demand"], "DEMAND environments")
        files = [base / env / "ch01.wav" for env in envs
                 if where[env] == canonical_split(split)]
    elif layout == "musan":
        found = {p.relative_to(base).as_posix(): p for p in base.rglob("*.wav")}
        where = split_assignment(list(found), SPLIT_FRACTIONS["musan"], "MUSAN noise files")
        files = sorted(p for rel, p in found.items()
                       if where[rel] == canonical_split(split))
    else:
        files = sorted(base.rglob("*.wav"))
    if not files:
        raise AvssError(f"--noise: no .wav files for split {split} ({layout} layout)", base)
    return layout, base, files


def split_rule(root: Path) -> dict[str, str]:
    """The layout of a noise corpus and how its splits are made, for report.json."""
    layout, _ = noise_layout(root)
    return {"layout": layout, "rule": SPLIT_RULES[layout]}


def read_mono_16k(path: str | Path, what: str = "noise") -> np.ndarray:
    """The first channel of a sound file at 16 kHz, float64 (int16 files: `int16 / 32768`).

    A file that is not audio, is empty, holds a NaN or infinite sample, or is digitally silent
    is an AvssError naming it (`what`: noise or RIR): mixed in, it would make every mixture it
    touches silent, NaN or offset by a constant while the manifest records an SNR.
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvssError(f"cannot read this {what} file: {_first_line(err, path)}", path) \
            from None
    x = data[:, 0]
    if x.size == 0:
        raise AvssError(f"empty {what} file (no samples); remove it from the folder and prepare "
                        "into a fresh --out", path)
    if not np.isfinite(x).all():
        raise AvssError(f"{what} file holds non-finite samples (NaN or inf); remove it from the "
                        "folder and prepare into a fresh --out", path)
    if not np.any(x):
        raise AvssError(f"{what} file is digitally silent (every sample is 0); remove it from "
                        "the folder and prepare into a fresh --out", path)
    if rate != SAMPLE_RATE:
        g = math.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g)
    return x


def length_16k(path: Path) -> int:
    """Samples of a file once at 16 kHz (from its header)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvssError(f"cannot read this noise file: {_first_line(err, path)}", path) from None
    if info.frames < 1:
        raise AvssError("empty noise file (no samples)", path)
    return int(round(info.frames * SAMPLE_RATE / info.samplerate))


def _first_line(err: BaseException, path: str | Path) -> str:
    """The reader's reason, without the file name it repeats (the error names it already)."""
    line = (str(err).splitlines() or [type(err).__name__])[0]
    return line.replace(f"Error opening {str(path)!r}: ", "").strip()


def noise_segment(path: str | Path, offset: int, n: int) -> np.ndarray:
    """`n` samples of the noise from `offset` (16 kHz), the file repeated when too short."""
    x = read_mono_16k(path)
    need = offset + n
    if x.size < need:
        x = np.tile(x, math.ceil(need / x.size))
    return x[offset:offset + n]
