"""Mouth ROIs of a video: decode at 25 fps -> FaceLandmarker -> official 96x96 grey crops."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avss_bench.core.constants import VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.io.video import read_frames_25fps, resample_frames
from avss_bench.lips.ibug68 import FACEMESH_FOR_IBUG68, to_ibug68
from avss_bench.lips.landmarker import NUM_LANDMARKS, FaceLandmarkTracker
from avss_bench.lips.roi import mouth_rois

#: Clips where the face is found in fewer frames than this are rejected (the gaps would be
#: interpolated over too long a stretch). The official pipeline only rejected clips with none.
DEFAULT_MIN_FACE_FRACTION = 0.5

Region = Sequence[int] | np.ndarray
_MAPPED_MESH = sorted(FACEMESH_FOR_IBUG68.values())


@dataclass(frozen=True)
class LandmarkTrack:
    """Per-frame landmarks of one face through a clip.

    Attributes:
        points: ``float64 [F, 68, 2]`` iBUG-68 equivalents in frame pixels (x, y); NaN for the
            points not mapped (see :mod:`avss_bench.lips.ibug68`) and for frames without a face.
        found: ``bool [F]``, whether the face was found in each frame.
        facemesh: ``float64 [F, 478, 3]`` MediaPipe's own landmarks (pixels; NaN where not
            found), or ``None`` unless requested.
    """

    points: np.ndarray
    found: np.ndarray
    facemesh: np.ndarray | None = None

    @property
    def face_fraction(self) -> float:
        """Share of frames with a face."""
        return float(self.found.mean()) if self.found.size else 0.0


def _regions(region: Region | None, frames: int, height: int, width: int) -> np.ndarray:
    """Per-frame ``(x0, y0, x1, y1)`` boxes clamped to the frame."""
    if region is None:
        boxes = np.tile([0, 0, width, height], (frames, 1))
    else:
        boxes = np.asarray(region, dtype=np.int64)
        boxes = np.tile(boxes, (frames, 1)) if boxes.ndim == 1 else boxes.copy()
        if boxes.shape != (frames, 4):
            raise ValueError("region must be (x0, y0, x1, y1) or one such box per frame")
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
        raise ValueError("region is empty inside the frame")
    return boxes


def face_in_region(tracker: FaceLandmarkTracker, frame: np.ndarray, box: np.ndarray,
                   step_ms: int, indices: Sequence[int] | None = _MAPPED_MESH
                   ) -> np.ndarray | None:
    """One frame of :func:`landmarks_68`: the face nearest the centre of ``box`` (already
    clamped to the frame), its landmarks in frame pixels, or ``None`` when none is found.

    Exposed so a caller decoding a long video frame by frame (``separate``) can feed one
    tracker per speaker without holding the clip.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    faces = tracker.detect(frame[y0:y1, x0:x1], step_ms, indices)
    if not faces:
        return None
    if len(faces) > 1:
        centre = np.array([(x1 - x0) / 2.0, (y1 - y0) / 2.0])
        faces.sort(key=lambda face: float(np.linalg.norm(face[:, :2].mean(0) - centre)))
    return faces[0] + (x0, y0, 0.0)


def landmarks_68(frames_rgb: np.ndarray, tracker: FaceLandmarkTracker, *,
                 region: Region | None = None, fps: float = VIDEO_FPS,
                 keep_facemesh: bool = False) -> LandmarkTrack:
    """Track one face through a clip and return its iBUG-68-equivalent landmarks.

    The tracker is reset first, so the result does not depend on what it saw before. With a
    ``region`` only that box of each frame is given to MediaPipe (a face crop, e.g. one speaker
    of a split-screen video) and the landmarks are shifted back to frame pixels. When the
    tracker reports several faces (``num_faces > 1``), the one nearest the region's centre is
    kept.

    Args:
        frames_rgb: ``uint8 [F, H, W, 3]`` RGB frames of one clip.
        tracker: an open :class:`FaceLandmarkTracker`.
        region: ``(x0, y0, x1, y1)`` pixel box, or ``int [F, 4]`` boxes, or ``None`` (whole frame).
        fps: the frames' rate (sets the tracker's timestamp step).
        keep_facemesh: also return the 478 MediaPipe landmarks.
    """
    frames_rgb = np.asarray(frames_rgb)
    if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3 or frames_rgb.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames_rgb.dtype} "
                         f"{frames_rgb.shape}")
    count, height, width = frames_rgb.shape[:3]
    boxes = _regions(region, count, height, width)
    step_ms = max(1, round(1000.0 / fps))
    indices = None if keep_facemesh else _MAPPED_MESH
    mesh = np.full((count, NUM_LANDMARKS, 3), np.nan)
    found = np.zeros(count, dtype=bool)
    tracker.reset()
    for index, (frame, box) in enumerate(zip(frames_rgb, boxes, strict=True)):
        face = face_in_region(tracker, frame, box, step_ms, indices)
        if face is None:
            continue
        rows = slice(None) if indices is None else indices
        mesh[index, rows] = face
        found[index] = True
    return LandmarkTrack(points=to_ibug68(mesh), found=found,
                         facemesh=mesh if keep_facemesh else None)


class MouthRoiExtractor:
    """Reusable mouth-ROI extractor holding one FaceLandmarker (one per process or worker).

    Use as a context manager (or call :meth:`close`) so the MediaPipe graph is released.

    Args:
        landmarker: the ``.task`` model file; ``None`` resolves it (option > env var > cache >
            download, see :mod:`avss_bench.lips.landmarker`).
        min_face_fraction: reject clips whose face is found in fewer frames than this.
        num_faces: faces MediaPipe may report per frame (the nearest to the region is used).
    """

    def __init__(self, landmarker: str | Path | None = None, *,
                 min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION,
                 num_faces: int = 1) -> None:
        if not 0.0 <= min_face_fraction <= 1.0:
            raise ValueError("min_face_fraction must be within [0, 1]")
        self.min_face_fraction = min_face_fraction
        self.tracker = FaceLandmarkTracker(landmarker, num_faces=num_faces)

    def __enter__(self) -> MouthRoiExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the landmarker."""
        self.tracker.close()

    def landmarks(self, frames_rgb: np.ndarray, fps: float = VIDEO_FPS, *,
                  region: Region | None = None, keep_facemesh: bool = False) -> LandmarkTrack:
        """:func:`landmarks_68` with this extractor's landmarker."""
        return landmarks_68(frames_rgb, self.tracker, region=region, fps=fps,
                            keep_facemesh=keep_facemesh)

    def check_track(self, track: LandmarkTrack, source: str | Path | None = None) -> None:
        """Raise :class:`AvssError` when the face was found too rarely."""
        found = int(track.found.sum())
        total = int(track.found.size)
        if found == 0:
            raise AvssError("no face detected in any frame", source)
        if track.face_fraction < self.min_face_fraction:
            raise AvssError(f"face found in only {100 * track.face_fraction:.1f}% of frames "
                            f"({found} of {total}; minimum {100 * self.min_face_fraction:.0f}%)",
                            source)

    def extract_frames(self, frames_rgb: np.ndarray, fps: float = VIDEO_FPS, *,
                       region: Region | None = None,
                       source: str | Path | None = None) -> np.ndarray:
        """Mouth ROIs of decoded frames.

        Args:
            frames_rgb: ``uint8 [F, H, W, 3]`` RGB frames at ``fps`` (resampled to 25 fps by
                nearest timestamp when ``fps`` is not 25).
            fps: their frame rate.
            region: optional face box(es), see :func:`landmarks_68`.
            source: the file they came from, named in errors.

        Returns:
            ``uint8 [F25, 96, 96]`` grey mouth crops, one per 25-fps frame.

        Raises:
            AvssError: no face, or a face in too few frames.
        """
        frames_rgb = np.asarray(frames_rgb)
        if abs(fps - VIDEO_FPS) > 1e-3:
            frames_rgb = resample_frames(frames_rgb, fps, VIDEO_FPS)
        track = self.landmarks(frames_rgb, VIDEO_FPS, region=region)
        self.check_track(track, source)
        return mouth_rois(frames_rgb, track.points, track.found)

    def extract(self, video_path: str | Path, *, region: Region | None = None) -> np.ndarray:
        """Mouth ROIs of a video file: ``uint8 [F, 96, 96]`` at 25 fps.

        Raises:
            AvssError: undecodable or truncated media, no face, or a face in too few frames.
        """
        frames, fps = read_frames_25fps(video_path)
        return self.extract_frames(frames, fps, region=region, source=video_path)


def extract_mouth_rois(video_path: str | Path, landmarker: str | Path | None = None, *,
                       min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION) -> np.ndarray:
    """Mouth ROIs of one video (``uint8 [F, 96, 96]``, 25 fps), with a one-off landmarker.

    For many clips keep one :class:`MouthRoiExtractor` instead (loading the model costs ~0.1 s).

    Raises:
        AvssError: see :meth:`MouthRoiExtractor.extract`.
    """
    with MouthRoiExtractor(landmarker, min_face_fraction=min_face_fraction) as extractor:
        return extractor.extract(video_path)


_PROCESS_EXTRACTORS: dict[tuple[int, str, float], MouthRoiExtractor] = {}


def process_extractor(landmarker: str | Path | None = None, *,
                      min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION) -> MouthRoiExtractor:
    """One :class:`MouthRoiExtractor` per process and settings, closed at interpreter exit.

    Meant for parallel workers (joblib/loky, multiprocessing): each worker loads the model once
    instead of once per clip. Keyed by process id, so a forked child never reuses its parent's
    MediaPipe graph.
    """
    key = (os.getpid(), str(landmarker), float(min_face_fraction))
    extractor = _PROCESS_EXTRACTORS.get(key)
    if extractor is None:
        extractor = MouthRoiExtractor(landmarker, min_face_fraction=min_face_fraction)
        _PROCESS_EXTRACTORS[key] = extractor
        _close_at_exit(extractor)
    return extractor


def _close_at_exit(extractor: MouthRoiExtractor) -> None:
    """Close before interpreter shutdown stops MediaPipe's dispatcher thread pool.

    Plain ``atexit`` runs too late (concurrent.futures shuts its executors down first, and
    MediaPipe's close then fails); threading's exit hooks run before that, newest first.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(extractor.close)
    except RuntimeError:  # no hook on this Python, or already shutting down
        atexit.register(extractor.close)
