"""Write an mp4 (H.264 video + optional AAC audio) with PyAV, atomically.

`write_mp4` is shared by the demo-corpus generator and `avss-bench separate`. The output is
reproducible: the same frames and audio give the same bytes (explicit timestamps, our own
RGB->YUV conversion, single-threaded x264 without macroblock-tree rate control, the muxer's and
encoders' `bitexact` flags, no creation time or encoder-version tags).

Audio note: AAC codes 1024-sample frames. The mp4 records the true audio length (the stream's
`duration`) and an edit list that hides the encoder's priming samples, but decoders return the
last frame whole, so a decoded track can be up to 1023 samples longer than what was written
(zeros). Readers should trim to the stream's duration; lengths that are a multiple of 1024
samples decode exactly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EncodeOptions", "Mp4Writer", "rgb_to_i420", "video_codec", "write_mp4",
           "write_mp4_frames"]

_CODEC_CACHE: dict[str, str] = {}


def video_codec(preferred: str = "libx264") -> str:
    """Return the video encoder to use: `preferred` if this PyAV build has it, else `mpeg4`."""
    if preferred not in _CODEC_CACHE:
        import av

        try:
            av.codec.Codec(preferred, "w")
            _CODEC_CACHE[preferred] = preferred
        except Exception:  # noqa: BLE001 - any failure means "not available in this build"
            _CODEC_CACHE[preferred] = "mpeg4"
    return _CODEC_CACHE[preferred]


def rgb_to_i420(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 `[H, W, 3]` -> planar YUV 4:2:0 `[H * 3 // 2, W]` (BT.601, limited range).

    The layout `av.VideoFrame.from_ndarray(..., format="yuv420p")` takes: the Y plane, then
    U and V, each `[H/2, W/2]`, packed row after row. Chroma is the mean of each 2x2 block.
    """
    rgb = frame.astype(np.float32)
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    sub = rgb.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    rs, gs, bs = sub[..., 0], sub[..., 1], sub[..., 2]
    u = 128.0 + (-37.797 * rs - 74.203 * gs + 112.0 * bs) / 255.0
    v = 128.0 + (112.0 * rs - 93.786 * gs - 18.214 * bs) / 255.0
    out = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


class EncodeOptions(TypedDict, total=False):
    """The encoder keywords :func:`write_mp4` and :func:`write_mp4_frames` pass on to
    :class:`Mp4Writer` (which holds their defaults and meaning)."""

    crf: int
    preset: str
    audio_bitrate: int
    codec: str | None
    exact_colour: bool


def write_mp4(
    path: str | Path,
    frames_rgb: np.ndarray,
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    **encoding: Unpack[EncodeOptions],
) -> Path:
    """Write frames (and audio) to an mp4, replacing `path` atomically.

    Args:
        path: output file (its folder must exist).
        frames_rgb: uint8 video frames, RGB. Width and height must be even (yuv420p).
        fps: frame rate (an exact rational is used for 25, 29.97 etc.).
        audio: float samples in [-1, 1], mono `[N]` or `[C, N]`; `None` writes video only.
        sample_rate: audio sample rate in Hz.
        **encoding: `crf`, `preset`, `audio_bitrate`, `codec`, `exact_colour`, as
            :class:`Mp4Writer`.

    Returns:
        The path written.

    Shape:
        frames_rgb: `[F, H, W, 3]` uint8; audio: `[N]` or `[C, N]` float.
    """
    path = Path(path)
    frames = np.asarray(frames_rgb)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames_rgb must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}"
        )
    n_frames, height, width, _ = frames.shape
    if n_frames == 0:
        raise ValueError("frames_rgb has no frames")
    return write_mp4_frames(path, iter(frames), width, height, fps, audio, sample_rate,
                            **encoding)


def write_mp4_frames(
    path: str | Path,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    **encoding: Unpack[EncodeOptions],
) -> Path:
    """:func:`write_mp4` from an iterable of ``uint8 [H, W, 3]`` frames, encoded as they come.

    Only one frame is held at a time, so a long high-resolution video can be written from a
    decoder without ever being in memory whole. Same bytes as :func:`write_mp4`. Keywords as
    :class:`Mp4Writer`.
    """
    with Mp4Writer(path, width, height, fps, audio, sample_rate, **encoding) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.finish()


class Mp4Writer:
    """An mp4 being written frame by frame; it replaces ``path`` atomically on :meth:`finish`.

    Use as a context manager: frames go in with :meth:`write`; :meth:`finish` adds the
    soundtrack (given up front: the mp4 header lists both streams), closes the file and renames
    it into place. Leaving the ``with`` block
    without :meth:`finish` (an error, Ctrl-C) deletes the temp file, so ``path`` is either the
    old file or the whole new one. Several writers can be open at once (``separate`` writes one
    video per speaker from a single decode of the source).

    Args:
        path: output file (its folder must exist).
        width, height: frame size (even, for yuv420p).
        fps: frame rate (an exact rational is used for 25, 29.97 etc.).
        audio: float samples in [-1, 1], mono ``[N]`` or ``[C, N]`` (C <= 2); ``None``: no
            soundtrack.
        sample_rate: audio sample rate in Hz.
        crf: x264 constant-rate factor (lower = better quality); for `mpeg4`, mapped to a
            fixed quantiser.
        preset: x264 speed preset (`veryfast` is ~2x faster than `medium` at this size, with
            files ~5% larger at the same quality).
        audio_bitrate: AAC bit rate in bit/s.
        codec: video encoder name; default `libx264`, falling back to `mpeg4` when this PyAV
            build lacks it.
        exact_colour: convert RGB to YUV with :func:`rgb_to_i420` (the same bytes on every
            machine); ``False`` leaves it to FFmpeg's swscale, ~15x faster at 1080p (5.8 vs 103
            ms per frame, ``benchmarks/README.md``) and deterministic on one machine, but its
            SIMD code may round differently on another CPU. Previews use ``False``; anything
            a checksum depends on (the demo corpus) keeps the default.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 25.0,
                 audio: np.ndarray | None = None, sample_rate: int = 16000, *,
                 crf: int = 18, preset: str = "veryfast", audio_bitrate: int = 64000,
                 codec: str | None = None, exact_colour: bool = True) -> None:
        import av

        self.path = Path(path)
        if height % 2 or width % 2:
            raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[None, :]
            if audio.ndim != 2 or audio.shape[0] not in (1, 2):
                raise ValueError(f"audio must be [N] or [C, N] with C in (1, 2), got "
                                 f"{audio.shape}")
            audio = np.ascontiguousarray(np.clip(audio, -1.0, 1.0))
        self.audio, self.sample_rate = audio, sample_rate
        self.width, self.height = width, height
        self.exact_colour = exact_colour
        self.rate = Fraction(fps).limit_denominator(1001)
        self.count = 0
        codec = video_codec(codec or "libx264")
        # A sibling temp name (same file system, so the final rename is atomic); created by
        # the muxer itself so it gets the usual permissions.
        self.tmp_name = str(self.path.parent
                            / f".{self.path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.mp4")
        self.container = av.open(self.tmp_name, "w", format="mp4",
                                 options={"fflags": "+bitexact"})
        try:
            self.vstream = self.container.add_stream(codec, rate=self.rate)
            self.vstream.width = width
            self.vstream.height = height
            self.vstream.pix_fmt = "yuv420p"
            self.vstream.codec_context.flags |= av.codec.context.Flags.bitexact
            if codec == "libx264":
                # One thread and no macroblock-tree rate control: with mbtree on, x264 1.65's
                # output varies from run to run on identical input (measured here).
                self.vstream.options = {"crf": str(crf), "preset": preset, "threads": "1",
                                        "x264-params": "mbtree=0"}
            else:
                self.vstream.codec_context.qscale = max(1, min(31, crf // 6))
                self.vstream.codec_context.flags |= av.codec.context.Flags.qscale
                self.vstream.options = {"threads": "1"}
            self.astream = None
            if audio is not None:
                self.astream = self.container.add_stream("aac", rate=sample_rate)
                self.astream.layout = "mono" if audio.shape[0] == 1 else "stereo"
                self.astream.bit_rate = audio_bitrate
                self.astream.codec_context.flags |= av.codec.context.Flags.bitexact
                self.astream.options = {"aac_coder": "fast"}
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:  # not finished: an error or an interrupt
            self._discard()

    def _discard(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is deleted anyway
            pass
        self.container = None
        Path(self.tmp_name).unlink(missing_ok=True)

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``uint8 [H, W, 3]`` RGB frame."""
        import av

        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {self.count} is {frame.dtype} {frame.shape}, expected "
                             f"uint8 {(self.height, self.width, 3)}")
        if self.exact_colour:  # our own colour conversion: exact and the same everywhere
            vframe = av.VideoFrame.from_ndarray(rgb_to_i420(frame), format="yuv420p")
        else:
            vframe = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vframe = vframe.reformat(format="yuv420p")
        vframe.pts = self.count  # explicit timestamps: x264's rate control uses them
        vframe.time_base = 1 / self.rate
        self.container.mux(self.vstream.encode(vframe))
        self.count += 1

    def finish(self) -> Path:
        """Flush the video, encode the soundtrack, close and rename into place."""
        import av

        try:
            self.container.mux(self.vstream.encode(None))
            if self.astream is not None:
                aframe = av.AudioFrame.from_ndarray(self.audio, format="fltp",
                                                    layout=self.astream.layout.name)
                aframe.sample_rate = self.sample_rate
                aframe.pts = 0
                aframe.time_base = Fraction(1, self.sample_rate)
                self.container.mux(self.astream.encode(aframe))
                self.container.mux(self.astream.encode(None))
            self.container.close()
            self.container = None
            os.replace(self.tmp_name, self.path)
        except BaseException:
            self._discard()
            raise
        return self.path
