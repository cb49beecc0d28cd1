"""Video decoding with PyAV: RGB uint8 frames, their frame rate and timestamps, 25-fps resampling.

Decisions (documented here because callers rely on them):

* Frames come back as one ``uint8`` array ``[F, H, W, 3]`` in RGB order, timestamps in seconds
  relative to the first decoded frame.
* **Partial decodes are errors, not data.** A file that cannot be opened (e.g. an mp4 truncated
  before its ``moov`` index), that stops decoding with an error, or that yields more than one
  frame fewer than its container announces, raises :class:`~avss_bench.core.errors.AvssError` with a
  one-line reason (``truncated video: decoded 45 of 100 frames``). The one-frame tolerance covers
  containers whose frame count is off by one (edit lists, decoder delay). Pass
  ``allow_partial=True`` to get the frames that did decode instead.
* **25 fps.** Every consumer (lip ROIs, manifests) works at 25 fps. A video at another rate, or
  with irregular timestamps, is resampled by picking, for each 25-fps instant
  ``t0 + k / 25``, the decoded frame whose timestamp is nearest (ties go to the earlier frame).
  The number of output frames is ``round(duration * 25)`` with ``duration = last timestamp -
  first timestamp + 1 / fps`` (the span the frames cover), at least 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from avss_bench.core.constants import VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.core.runtime import release_free_memory

#: decoded frames between two `release_free_memory` calls of `FrameStream` (each costs ~6 ms
#: on a 1080p pass: every frame would add half the face-detection time)
TRIM_EVERY = 10

# Regular 25-fps input passes through untouched when every frame step is within this of 40 ms.
_REGULAR_TOLERANCE_S = 0.5e-3


@dataclass(frozen=True)
class DecodedVideo:
    """Decoded frames of one video stream.

    Attributes:
        frames: ``uint8 [F, H, W, 3]`` RGB frames.
        fps: the stream's nominal frame rate (frames per second).
        timestamps: ``float64 [F]`` presentation times in seconds, relative to the first frame.
    """

    frames: np.ndarray
    fps: float
    timestamps: np.ndarray


def _open(path: Path):  # noqa: ANN202 - av.container.InputContainer, imported lazily
    import av

    if not path.is_file():
        raise AvssError("video file not found", path)
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:  # e.g. mp4 without its moov index
        raise AvssError(f"undecodable video (cannot open: {_short(exc)})", path) from None


def _video_stream(container, path: Path):  # noqa: ANN001, ANN202 - PyAV types, imported lazily
    """The first video stream of an open container; one-line AvssError when it has none."""
    if not container.streams.video:
        raise AvssError("no video stream", path)
    return container.streams.video[0]


def _short(exc: BaseException) -> str:
    """One-line description of a decoder exception, without the file name PyAV repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0] if text else type(exc).__name__


def _stream_fps(stream, timestamps: list[float]) -> float:  # noqa: ANN001
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if rate:
        return float(Fraction(rate))
    if len(timestamps) > 1:
        return float(1.0 / np.median(np.diff(timestamps)))
    raise AvssError("cannot determine the video frame rate")


class _FrameBuffer:
    """Collects decoded frames into one preallocated array when the count is announced.

    Avoids holding a list of frames and their stacked copy at once (a 1080p minute is ~10 GB).
    Frames beyond the announced count go to an overflow list.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.data: np.ndarray | None = None
        self.extra: list[np.ndarray] = []
        self.count = 0
        self.shape: tuple[int, ...] = ()

    def append(self, image: np.ndarray) -> None:
        if self.count == 0:
            self.shape = image.shape
            if self.expected > 0:
                self.data = np.empty((self.expected,) + image.shape, dtype=image.dtype)
        elif image.shape != self.shape:
            raise ValueError(f"frame size changes mid-stream ({self.shape} -> {image.shape})")
        if self.data is not None and self.count < len(self.data):
            self.data[self.count] = image
        else:
            self.extra.append(image)
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def array(self) -> np.ndarray:
        head = self.data[: min(self.count, len(self.data))] if self.data is not None else None
        if not self.extra:
            return head
        return np.concatenate(([head] if head is not None else []) + [np.stack(self.extra)])


def decode_video(path: str | Path, *, allow_partial: bool = False) -> DecodedVideo:
    """Decode every frame of the first video stream of ``path`` as RGB.

    Args:
        path: a media file PyAV/FFmpeg can read (mp4, mkv, avi, ...).
        allow_partial: return the frames that decoded when the file is truncated or corrupt,
            instead of raising.

    Raises:
        AvssError: the file is missing, unreadable, has no video stream, no decodable frame,
            or (unless ``allow_partial``) is truncated/corrupt.
    """
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        expected = int(stream.frames or 0)
        frames = _FrameBuffer(expected)
        times: list[float] = []
        failure: str | None = None
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.time) if frame.time is not None else float("nan"))
        except (av.error.FFmpegError, OSError) as exc:
            failure = _short(exc)
        except ValueError as exc:  # resolution change
            raise AvssError(f"unsupported video: {exc}", path) from None
        fps = _stream_fps(stream, [t for t in times if np.isfinite(t)])
        span = None
        if stream.duration is not None and stream.time_base is not None:
            span = float(stream.duration * stream.time_base)
    finally:
        container.close()

    if not frames:
        reason = f": {failure}" if failure else ""
        raise AvssError(f"undecodable video (no frame could be decoded{reason})", path)
    n = len(frames)
    of = f" of {expected}" if expected else ""
    if failure is not None and not allow_partial:
        raise AvssError(f"truncated or corrupt video: decoding failed after {n}{of} frames "
                        f"({failure})", path)
    if expected and n < expected - 1 and not allow_partial:
        raise AvssError(f"truncated video: decoded {n} of {expected} frames", path)
    ts = np.asarray(times, dtype=np.float64)
    if not np.all(np.isfinite(ts)):  # streams without timestamps: assume a constant rate
        ts = np.arange(n, dtype=np.float64) / fps
    ts = ts - ts[0]
    if not expected and span is not None and not allow_partial:
        covered = ts[-1] + 1.0 / fps
        if covered < span - 1.5 / fps:
            raise AvssError(f"truncated video: decoded {covered:.2f} s of {span:.2f} s", path)
    return DecodedVideo(frames=frames.array(), fps=fps, timestamps=ts)


def read_frames(path: str | Path, *, allow_partial: bool = False) -> tuple[np.ndarray, float]:
    """Decode a video at its own frame rate.

    Returns:
        ``(frames, fps)``: ``uint8 [F, H, W, 3]`` RGB frames and the nominal frame rate.
    """
    video = decode_video(path, allow_partial=allow_partial)
    return video.frames, video.fps


def read_frames_25fps(path: str | Path, *, allow_partial: bool = False
                      ) -> tuple[np.ndarray, float]:
    """Decode a video and resample it to 25 fps by nearest timestamp (see the module docstring).

    Returns:
        ``(frames, 25.0)``: ``uint8 [F, H, W, 3]`` RGB frames at 25 fps, and the rate, so that the
        result unpacks like :func:`read_frames`.
    """
    video = decode_video(path, allow_partial=allow_partial)
    index = resample_indices(video.timestamps, video.fps, VIDEO_FPS)
    frames = video.frames if index is None else video.frames[index]
    return frames, VIDEO_FPS


def resample_indices(timestamps: np.ndarray, fps: float, target_fps: float = VIDEO_FPS
                     ) -> np.ndarray | None:
    """Indices of the source frames nearest to each instant of a ``target_fps`` grid.

    Args:
        timestamps: ``[F]`` source frame times in seconds (increasing).
        fps: the source's nominal rate, used for the duration covered by the last frame.
        target_fps: the output rate.

    Returns:
        ``int64 [F_out]`` source indices, or ``None`` when the source already is a regular
        ``target_fps`` sequence (nothing to do).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError("timestamps must be a non-empty 1-D array")
    step = 1.0 / target_fps
    if abs(fps - target_fps) < 1e-3 and (
        ts.size == 1 or np.max(np.abs(np.diff(ts) - step)) <= _REGULAR_TOLERANCE_S
    ):
        return None
    duration = ts[-1] - ts[0] + 1.0 / fps
    count = max(1, int(np.floor(duration * target_fps + 0.5)))
    grid = ts[0] + np.arange(count, dtype=np.float64) * step
    right = np.clip(np.searchsorted(ts, grid, side="left"), 0, ts.size - 1)
    left = np.clip(right - 1, 0, ts.size - 1)
    # Nearest neighbour; a tie (within float noise) goes to the earlier frame.
    take_right = (ts[right] - grid) < (grid - ts[left]) - 1e-9
    return np.where(take_right, right, left).astype(np.int64)


def resample_frames(frames: np.ndarray, fps: float, target_fps: float = VIDEO_FPS
                    ) -> np.ndarray:
    """Resample constant-rate ``frames`` (``[F, ...]`` at ``fps``) to ``target_fps``."""
    ts = np.arange(len(frames), dtype=np.float64) / fps
    index = resample_indices(ts, fps, target_fps)
    return frames if index is None else frames[index]


def video_duration(path: str | Path) -> float:
    """Duration in seconds of the first video stream, read from the container (no decoding).

    Uses the stream's duration, else its frame count over its rate, else the container's
    duration. Raises :class:`AvssError` when the file cannot be opened or has no video stream.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        rate = stream.average_rate or stream.guessed_rate
        if stream.frames and rate:
            return float(stream.frames / Fraction(rate))
        if container.duration is not None:
            return container.duration / 1_000_000  # av.time_base is microseconds
        raise AvssError("video duration unknown", path)
    finally:
        container.close()


class FrameStream:
    """Decode a video one frame at a time, resampled to 25 fps on the fly (bounded memory).

    Iterating yields ``uint8 [H, W, 3]`` RGB frames on the 25-fps grid of :func:`read_frames_25fps`
    (nearest source timestamp, ties to the earlier frame; the same frames for the same file), but
    holds at most two decoded frames. Each iteration decodes the file again, so one object can be
    walked several times (detection, landmarks, ROIs, writing).

    After a complete walk: :attr:`count` (25-fps frames), :attr:`width`, :attr:`height`,
    :attr:`start_time` (the first frame's presentation time in seconds, in the container's
    clock, used to align the audio track). A truncated or corrupt file raises
    :class:`AvssError` at the end of the walk (before any caller has written output, when the
    first walk only gathers detections).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count: int | None = None
        self.width = 0
        self.height = 0
        self.start_time = 0.0
        container = _open(self.path)
        try:
            stream = _video_stream(container, self.path)
            self.width, self.height = int(stream.width), int(stream.height)
        finally:
            container.close()

    def __iter__(self):  # noqa: ANN204 - a generator of frames
        import av

        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            expected = int(stream.frames or 0)
            fps = _stream_fps(stream, [])
            step = 1.0 / VIDEO_FPS
            first: float | None = None
            prev: tuple[float, np.ndarray] | None = None
            emitted = decoded = 0
            failure: str | None = None
            try:
                for frame in container.decode(stream):
                    if decoded % TRIM_EVERY == 0:  # bounded memory over long videos
                        release_free_memory()
                    image = frame.to_ndarray(format="rgb24")
                    if image.shape != (self.height, self.width, 3):
                        raise AvssError("unsupported video: frame size changes mid-stream",
                                        self.path)
                    stamp = float(frame.time) if frame.time is not None else decoded / fps
                    if first is None:
                        first = stamp
                        self.start_time = stamp
                    t = stamp - first
                    decoded += 1
                    if prev is None:
                        prev = (t, image)
                        continue
                    # every grid instant up to this frame: the nearer of prev and this one
                    while emitted * step <= t + 1e-9:
                        g = emitted * step
                        take_new = (t - g) < (g - prev[0]) - 1e-9
                        yield image if take_new else prev[1]
                        emitted += 1
                    prev = (t, image)
            except (av.error.FFmpegError, OSError) as exc:
                failure = _short(exc)
            if prev is None:
                reason = f": {failure}" if failure else ""
                raise AvssError(f"undecodable video (no frame could be decoded{reason})",
                                self.path)
            if failure is not None:
                raise AvssError(f"truncated or corrupt video: decoding failed after {decoded}"
                                f"{f' of {expected}' if expected else ''} frames ({failure})",
                                self.path)
            if expected and decoded < expected - 1:
                raise AvssError(f"truncated video: decoded {decoded} of {expected} frames",
                                self.path)
            duration = prev[0] + 1.0 / fps
            total = max(1, int(np.floor(duration * VIDEO_FPS + 0.5)))
            while emitted < total:
                yield prev[1]
                emitted += 1
            self.count = emitted
        finally:
            container.close()
