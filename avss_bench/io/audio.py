"""Audio I/O: decode a clip's audio track, read and write int16 WAV files atomically.

Decoding follows the raw-audio step of the standard recipe (`ffmpeg -ar 16000 -ac 1` to a 16-bit
WAV, then `sox trim 0 2`): the audio track is converted by libswresample (the resampler the
ffmpeg CLI uses) to 16 kHz mono float, quantised to int16 like ffmpeg's float-to-s16 conversion
(`lrint(x * 32768)`, clipped), and returned as float64 `int16 / 32768` (what MATLAB's
`audioread` gives the mixing script). Against the FFmpeg 5.1 decodes of the shared reference
this differs by at most 1 LSB on a handful of samples (AAC decoder float rounding).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from avss_bench.core.atomic import write_bytes
from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError

#: A decode that ends this many samples (at 16 kHz) before the container's declared duration
#: counts as truncated (AAC adds up to 1024 priming and 1024 padding samples, so real clips
#: differ from their declared duration by at most ~2048 samples).
TRUNCATION_SLACK = 2048


def decode_audio(path: str | Path, seconds: float | None = None,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first `seconds` of a media file's audio track to mono float64.

    Args:
        path: an .mp4 / .m4a / .wav / any file FFmpeg (PyAV) can read with an audio track.
        seconds: how much to keep from the start (`None`: everything).
        sample_rate: output rate (16 kHz for every corpus here).

    Returns:
        float64 array `[T]` of int16-quantised samples divided by 32768; `T` is
        `round(seconds * sample_rate)` unless the clip is shorter.

    Raises:
        AvssError: the file is missing, has no audio track, cannot be decoded, or ends before
            the duration its container declares (a truncated download).
    """
    import av  # imported here: PyAV is only needed by the verbs that decode media

    path = Path(path)
    if not path.is_file():
        raise AvssError("media file not found", path)
    wanted = None if seconds is None else int(round(seconds * sample_rate))
    chunks: list[np.ndarray] = []
    have = 0
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise AvssError(f"cannot decode: {_short(err)}", path) from err
    try:
        if not container.streams.audio:
            raise AvssError("cannot decode: no audio track", path)
        stream = container.streams.audio[0]
        declared = _declared_samples(stream, container, sample_rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        done = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    have += chunk.size
                if wanted is not None and have >= wanted:
                    done = True
                    break
            if not done:
                for out in resampler.resample(None):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    have += chunk.size
        except av.error.FFmpegError as err:
            raise AvssError(f"truncated or corrupt audio after {have / sample_rate:.2f} s: "
                            f"{_short(err)}", path) from err
    finally:
        container.close()
    if have == 0:
        raise AvssError("cannot decode: the audio track holds no samples", path)
    if (wanted is None or have < wanted) and declared is not None \
            and have + TRUNCATION_SLACK < declared:
        raise AvssError(f"truncated: decoded {have / sample_rate:.3f} s of audio, the container "
                        f"declares {declared / sample_rate:.3f} s", path)
    samples = np.concatenate(chunks).astype(np.float64)
    if wanted is not None:
        samples = samples[:wanted]
    quantised = np.clip(np.rint(samples * 32768.0), -32768, 32767)
    return quantised / 32768.0


def _declared_samples(stream, container, sample_rate: int) -> int | None:
    """The audio duration the container declares, in samples at `sample_rate` (None: unknown)."""
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * sample_rate)
    if container.duration is not None:  # microseconds
        return int(container.duration * sample_rate / 1_000_000)
    return None


def _short(err: BaseException) -> str:
    """One line from an FFmpeg/PyAV error, without the repeated file name."""
    text = getattr(err, "strerror", None) or str(err)
    text = str(text).splitlines()[0] if text else type(err).__name__
    return text.split(": '")[0]


def to_int16(x: np.ndarray) -> np.ndarray:
    """`int16(round(32768 * x))` with MATLAB's rounding (half away from zero), saturating."""
    y = np.asarray(x, dtype=np.float64) * 32768.0
    y = np.sign(y) * np.floor(np.abs(y) + 0.5)
    return np.clip(y, -32768, 32767).astype(np.int16)


def read_audio(path: str | Path, dtype: str = "float64",
               sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Samples ``[T]`` of a mono sound file and its rate: the one reader of audio files.

    Args:
        path: any file libsndfile reads (WAV PCM or float, FLAC, ...).
        dtype: ``"float64"`` / ``"float32"`` (int16 files give exactly ``int16 / 32768``; float
            files keep values beyond +-1, as model outputs may have) or ``"int16"`` (the corpus
            pipeline's own files).
        sample_rate: if given, any other rate is an error.

    Raises:
        AvssError: missing, unreadable, multichannel, empty or wrong-rate file (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise AvssError("file not found", path)
    try:
        data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AvssError(f"cannot read audio: {message}", path) from err
    if data.shape[1] != 1:
        raise AvssError(f"expected mono audio, found {data.shape[1]} channels", path)
    if data.shape[0] == 0:
        raise AvssError("empty audio file", path)
    if sample_rate is not None and rate != sample_rate:
        raise AvssError(f"sample rate is {rate} Hz, expected {sample_rate}", path)
    return data[:, 0], int(rate)


def wav_info(path: str | Path) -> sf._SoundFileInfo:
    """Header of a WAV (frames, rate, channels, subtype) without reading the samples."""
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvssError(f"cannot read audio: {_short(err)}", path) from err


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono samples as a 16-bit PCM WAV, atomically (temp file + rename)."""
    path = Path(path)
    data = np.asarray(samples)
    if data.dtype != np.int16:
        raise TypeError(f"write_wav expects int16 samples, got {data.dtype}")
    # Encode in memory: libsndfile's close() on a real file fsyncs, which costs more than the
    # whole mixing (~6 ms per file). A torn file after a crash is caught by the size check of
    # the resume logic and rewritten.
    buffer = io.BytesIO()
    sf.write(buffer, data, sample_rate, subtype="PCM_16", format="WAV")
    write_bytes(path, buffer.getvalue())


def float_wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A mono 32-bit float WAV (fmt, fact and data chunks), the same bytes for the same samples.

    libsndfile adds a PEAK chunk to float WAVs that records the time of writing, so an example
    written again by a resumed evaluation would differ from the uninterrupted run's.
    """
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, rate, rate * 4, 4, 32, 0)  # IEEE float, 1 channel
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<II", 4, len(data) // 4)
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body
