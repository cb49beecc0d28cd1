"""Room impulse responses: real RIR corpora, seeded simulated rooms, and the early/late split.

Reference convention: the target of a reverberant source is the source convolved with the
direct path and the early reflections, i.e. the RIR up to `EARLY_MS` = 50 ms after its
direct-path peak (`argmax |h|`), the rest zeroed. 50 ms is the early/late boundary of the
clarity index C50 and definition D50 (ISO 3382-1), and the "early" target of SMS-WSJ
(Drude et al., 2019, arXiv:1910.13934), which mixes the early part as the separation target.

Real RIRs (`--rir DIR`): RIRS_NOISES (OpenSLR 28) in its layout
`[RIRS_NOISES/]{real_rirs_isotropic_noises,simulated_rirs}/...`: the RIR wavs of both parts
(the isotropic noise recordings, `*noise*`, are left out), grouped by their folder (one room);
a mixture takes one group and N different RIRs from it (repeating when the room has fewer),
so all its sources are in the same room. Any other folder: every `*.wav`, grouped by folder.

Simulated rooms (`--simulate-rooms`, pyroomacoustics): per mixture a shoebox room (sides
uniform in 3-10 m x 3-10 m x 2.5-4 m), an RT60 uniform in the given range, Sabine absorption
and image-source order from `pyroomacoustics.inverse_sabine`, one microphone and N sources at
least 0.5 m from the walls, all seeded; the parameters are recorded in the manifest.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError

EARLY_MS = 50.0
RIR_PARTS = ("real_rirs_isotropic_noises", "simulated_rirs")


def early_part(h: np.ndarray, fs: int = SAMPLE_RATE, early_ms: float = EARLY_MS) -> np.ndarray:
    """The RIR up to `early_ms` after its direct-path peak (inclusive), zero after."""
    h = np.asarray(h, dtype=np.float64)
    end = int(np.argmax(np.abs(h))) + int(round(early_ms * fs / 1000.0)) + 1
    out = np.zeros_like(h)
    out[:end] = h[:end]
    return out


def rir_groups(root: Path) -> list[tuple[str, list[Path]]]:
    """(folder relative to root, sorted RIR files) of every room in a RIR corpus."""
    root = Path(root)
    if not root.is_dir():
        raise AvssError("--rir: not a directory", root)
    base = root / "RIRS_NOISES" if (root / "RIRS_NOISES").is_dir() else root
    parts = [base / p for p in RIR_PARTS if (base / p).is_dir()] or [base]
    groups: dict[Path, list[Path]] = {}
    for part in parts:
        for f in sorted(part.rglob("*.wav")):
            if "noise" in f.name.lower():
                continue
            groups.setdefault(f.parent, []).append(f)
    if not groups:
        raise AvssError("--rir: no RIR .wav files found", root)
    return [(str(k.relative_to(root)), v) for k, v in sorted(groups.items())]


def draw_rirs(groups: Sequence[tuple[str, list[Path]]], n: int, rng: random.Random
              ) -> list[Path]:
    """One room, then `n` of its RIRs (distinct while the room has enough)."""
    _, files = groups[rng.randrange(len(groups))]
    picks = rng.sample(files, n) if len(files) >= n else [rng.choice(files) for _ in range(n)]
    return picks


def draw_room(n: int, rt60_range: tuple[float, float], rng: random.Random) -> dict:
    """Seeded shoebox room parameters (rounded, so the manifest records them exactly)."""
    dims = [round(rng.uniform(3, 10), 3), round(rng.uniform(3, 10), 3),
            round(rng.uniform(2.5, 4), 3)]

    def point() -> list[float]:
        return [round(rng.uniform(0.5, d - 0.5), 3) for d in dims]

    return {"dims": dims, "rt60": round(rng.uniform(*rt60_range), 3), "mic": point(),
            "sources": [point() for _ in range(n)]}


def room_rirs(room: dict, fs: int = SAMPLE_RATE) -> list[np.ndarray]:
    """The RIRs (microphone <- each source) of a `draw_room` room, by pyroomacoustics."""
    try:
        import pyroomacoustics as pra
    except ImportError as err:
        raise AvssError("--simulate-rooms needs pyroomacoustics (pip install "
                        "pyroomacoustics)") from err
    absorption, max_order = pra.inverse_sabine(room["rt60"], room["dims"])
    shoebox = pra.ShoeBox(room["dims"], fs=fs, materials=pra.Material(absorption),
                          max_order=max_order)
    for src in room["sources"]:
        shoebox.add_source(src)
    shoebox.add_microphone(np.array(room["mic"], dtype=np.float64))
    shoebox.compute_rir()
    return [np.asarray(shoebox.rir[0][k], dtype=np.float64) for k in range(len(room["sources"]))]
