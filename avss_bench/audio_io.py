"""Read any mono WAV (PCM or float) as float64 for scoring, with one-line errors.

`avss_bench.audio.read_wav` returns int16 for the corpus pipeline; scoring must also read
float WAVs (model outputs can exceed ±1.0), so it reads through soundfile at float64,
which gives int16 files exactly as ``int16 / 32768``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from avss_bench.errors import AvssError


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples ``[T]`` float64 and the sample rate of a mono sound file.

    Raises:
        AvssError: missing, unreadable, multichannel or empty file (message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise AvssError("file not found", path)
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AvssError(f"cannot read audio: {message}", path) from err
    if data.shape[1] != 1:
        raise AvssError(f"expected mono audio, found {data.shape[1]} channels", path)
    if data.shape[0] == 0:
        raise AvssError("empty audio file", path)
    return data[:, 0], int(rate)
