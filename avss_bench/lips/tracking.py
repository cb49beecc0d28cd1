"""Face detection and tracking through a video: the N most prominent faces, stable identities.

Pipeline (:func:`track_faces`):

1. **Detect** faces in every frame with MediaPipe's FaceDetector (BlazeFace short range, the
   ``face_detector.tflite`` inside the FaceLandmarker ``.task`` bundle), on a copy of the frame
   scaled so its longer side is at most ``max_side`` pixels (faces stay large enough; detection
   costs a few ms per frame). Detections down to ``min_confidence`` are kept.
2. **Associate** detections frame to frame, ByteTrack style: detections at or above
   ``start_confidence`` are matched to the live tracks first (Hungarian assignment on
   ``1 - IoU`` plus the centre distance, gated); the weaker ones may only extend a track they
   overlap well (IoU >= ``low_iou``) and never start one. This keeps profile views and
   microphone-occluded faces (weak scores) on their track while spurious weak boxes are dropped.
   A track unmatched for more than ``max_gap`` frames (1 s) ends.
3. **Link** tracklets that do not overlap in time and whose end and start boxes agree (a face that
   disappears for longer than ``max_gap`` and comes back where it left).
4. **Fill and smooth**: boxes are linearly interpolated across the frames without a detection,
   the ends are held, and the centre and size are averaged over ``smooth_window`` frames.
5. **Select** the ``num_faces`` tracks with the largest prominence (the sum of the box area over
   the frames where the face was detected: large faces seen often), ordered left to right by
   their mean centre. Tracks seen in fewer than ``min_presence`` of the frames do not count as
   faces; too few faces is an :class:`~avss_bench.core.errors.AvssError`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avss_bench.core.errors import AvssError
from avss_bench.core.native_logs import native_stderr_silenced

DETECTOR_MEMBER = "face_detector.tflite"
DEFAULT_MAX_SIDE = 960
DEFAULT_MIN_CONFIDENCE = 0.3
DEFAULT_START_CONFIDENCE = 0.5
DEFAULT_MAX_GAP = 25  # frames at 25 fps: 1 s
DEFAULT_SMOOTH_WINDOW = 9
DEFAULT_MIN_PRESENCE = 0.1


# ------------------------------------------------------------------------------ box geometry

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Shape:
        a: ``[N, 4]``, b: ``[M, 4]`` as ``(x0, y0, x1, y1)``; returns ``[N, M]``.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between box centres, in units of the ``a`` box's size (sqrt of its area).

    Shape:
        a: ``[N, 4]``, b: ``[M, 4]``; returns ``[N, M]``.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2.0
    cb = (b[:, :2] + b[:, 2:]) / 2.0
    size = np.sqrt(np.clip((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-9, None))
    return np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1) / size[:, None]


def match_boxes(tracks: np.ndarray, detections: np.ndarray, *, min_iou: float,
                max_centre: float) -> list[tuple[int, int]]:
    """Hungarian assignment of detections to tracks, gated.

    A pair is allowed when its IoU is at least ``min_iou`` or its centre distance (in track
    box sizes) at most ``max_centre``; the cost is ``1 - IoU + centre distance``.

    Returns:
        ``(track index, detection index)`` pairs.
    """
    from scipy.optimize import linear_sum_assignment

    if len(tracks) == 0 or len(detections) == 0:
        return []
    iou = box_iou(tracks, detections)
    dist = centre_distance(tracks, detections)
    allowed = (iou >= min_iou) | (dist <= max_centre)
    cost = np.where(allowed, 1.0 - iou + dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


# --------------------------------------------------------------------------------- detection

def detector_model_bytes(path: str | Path) -> bytes:
    """The BlazeFace model: ``face_detector.tflite`` read from a ``.task`` bundle (a zip), or
    the bytes of a ``.tflite`` file given directly.

    Raises:
        AvssError: the file is missing, or a zip without the face detector.
    """
    path = Path(path)
    if not path.is_file():
        raise AvssError("face model not found", path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as bundle:
            if DETECTOR_MEMBER not in bundle.namelist():
                raise AvssError(f"model bundle has no {DETECTOR_MEMBER}", path)
            return bundle.read(DETECTOR_MEMBER)
    return path.read_bytes()


class FaceDetector:
    """MediaPipe FaceDetector (IMAGE mode) returning pixel boxes; a context manager.

    Args:
        model: the FaceLandmarker ``.task`` bundle or a ``face_detector.tflite``; ``None``
            resolves the bundle like the lip pipeline (option > ``AVSS_BENCH_LANDMARKER`` >
            cache > download).
        min_confidence: weakest detection reported.
        max_side: frames are scaled down (never up) so their longer side is at most this.
    """

    def __init__(self, model: str | Path | None = None, *,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 max_side: int = DEFAULT_MAX_SIDE) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        from avss_bench.lips.landmarker import resolve_landmarker_path

        self.model_path = resolve_landmarker_path(model)
        self.max_side = int(max_side)
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=detector_model_bytes(self.model_path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=float(min_confidence),
        )
        try:
            with native_stderr_silenced():
                self._detector: Any = vision.FaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise AvssError(f"cannot load the face detector ({exc})", self.model_path) from None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the MediaPipe graph (idempotent)."""
        detector, self._detector = getattr(self, "_detector", None), None
        if detector is not None:
            with native_stderr_silenced():  # LiteRT logs "DestroyAccelerator" on close
                detector.close()

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Faces in one RGB frame.

        Returns:
            ``float64 [K, 5]``: ``(x0, y0, x1, y1, score)`` per face, in the frame's pixels.
        """
        import cv2
        import mediapipe as mp

        if self._detector is None:
            raise RuntimeError("FaceDetector is closed")
        height, width = frame_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        image = frame_rgb
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        # Every call, not only the first: LiteRT also warns whenever a frame's buffer happens to
        # be unaligned, which depends on where numpy placed it.
        with native_stderr_silenced():
            result = self._detector.detect(mp_image)
        rows = []
        for det in result.detections:
            box = det.bounding_box
            score = det.categories[0].score if det.categories else 1.0
            rows.append([box.origin_x, box.origin_y, box.origin_x + box.width,
                         box.origin_y + box.height, score])
        out = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        out[:, :4] /= scale
        return out


def detect_faces(frames_rgb: Iterable[np.ndarray], detector: FaceDetector, *,
                 progress: Callable[[int], Any] | None = None) -> list[np.ndarray]:
    """Run ``detector`` on every frame; ``progress(1)`` is called after each frame.

    Returns:
        one ``[K_t, 5]`` array per frame (see :meth:`FaceDetector.detect`).
    """
    found = []
    for frame in frames_rgb:
        found.append(detector.detect(frame))
        if progress is not None:
            progress(1)
    return found


# ---------------------------------------------------------------------------------- tracking

@dataclass
class _Tracklet:
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, frame: int, det: np.ndarray) -> None:
        self.frames.append(frame)
        self.boxes.append(np.asarray(det[:4], dtype=np.float64))
        self.scores.append(float(det[4]))

    def extend(self, other: _Tracklet) -> None:
        self.frames += other.frames
        self.boxes += other.boxes
        self.scores += other.scores


@dataclass(frozen=True)
class FaceTrack:
    """One face followed through a clip.

    Attributes:
        boxes: ``float64 [F, 4]`` ``(x0, y0, x1, y1)`` pixel box in every frame: detections,
            interpolated across missed frames, ends held, then smoothed.
        detected: ``bool [F]``, frames where the detector found this face.
        raw_boxes: ``float64 [F, 4]`` the detections themselves (NaN where not detected).
        scores: ``float64 [F]`` detection confidences (NaN where not detected).
    """

    boxes: np.ndarray
    detected: np.ndarray
    raw_boxes: np.ndarray
    scores: np.ndarray

    @property
    def coverage(self) -> float:
        """Share of frames where the face was detected."""
        return float(self.detected.mean()) if self.detected.size else 0.0

    @property
    def prominence(self) -> float:
        """Sum of the detected box areas (px^2): large faces seen often rank first."""
        raw = self.raw_boxes[self.detected]
        return float(np.sum((raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])))

    @property
    def centres(self) -> np.ndarray:
        """``[F, 2]`` centre (x, y) of :attr:`boxes`."""
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2.0


def associate(detections: Sequence[np.ndarray], *,
              start_confidence: float = DEFAULT_START_CONFIDENCE, max_gap: int = DEFAULT_MAX_GAP,
              min_iou: float = 0.1, max_centre: float = 0.5, low_iou: float = 0.3
              ) -> list[_Tracklet]:
    """Frame-to-frame association (step 2 of the module docstring)."""
    tracklets: list[_Tracklet] = []
    for t, dets in enumerate(detections):
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        live = [k for k, tr in enumerate(tracklets) if t - tr.frames[-1] <= max_gap]
        last = np.array([tracklets[k].boxes[-1] for k in live]).reshape(-1, 4)
        strong = np.flatnonzero(dets[:, 4] >= start_confidence)
        weak = np.flatnonzero(dets[:, 4] < start_confidence)
        taken: set[int] = set()
        used: set[int] = set()
        for i, j in match_boxes(last, dets[strong, :4], min_iou=min_iou, max_centre=max_centre):
            tracklets[live[i]].add(t, dets[strong[j]])
            taken.add(i)
            used.add(j)
        for j in range(len(strong)):
            if j not in used:
                new = _Tracklet()
                new.add(t, dets[strong[j]])
                tracklets.append(new)
        rest = [i for i in range(len(live)) if i not in taken]
        for i, j in match_boxes(last[rest], dets[weak, :4], min_iou=low_iou, max_centre=-1.0):
            tracklets[live[rest[i]]].add(t, dets[weak[j]])
    return tracklets


def link_tracklets(tracklets: Sequence[_Tracklet], *, min_iou: float = 0.3,
                   max_centre: float = 0.5) -> list[_Tracklet]:
    """Join tracklets that follow one another in time with agreeing boxes (step 3).

    Tracklets are taken in order of their first frame; each is appended to the chain whose
    last box it matches best among the chains that ended before it starts.
    """
    chains: list[_Tracklet] = []
    for tracklet in sorted(tracklets, key=lambda tr: tr.frames[0]):
        best, best_cost = None, np.inf
        for chain in chains:
            if chain.frames[-1] >= tracklet.frames[0]:
                continue
            iou = box_iou(chain.boxes[-1], tracklet.boxes[0])[0, 0]
            dist = centre_distance(chain.boxes[-1], tracklet.boxes[0])[0, 0]
            if (iou >= min_iou or dist <= max_centre) and 1.0 - iou + dist < best_cost:
                best, best_cost = chain, 1.0 - iou + dist
        if best is None:
            chains.append(_Tracklet(list(tracklet.frames), list(tracklet.boxes),
                                    list(tracklet.scores)))
        else:
            best.extend(tracklet)
    return chains


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding (same length as the input)."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < 2:
        return values.copy()
    window = min(window, len(values) if len(values) % 2 else len(values) - 1)
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values,
                             np.repeat(values[-1:], half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid")
                     for c in range(values.shape[1])], axis=1)


def finish_track(tracklet: _Tracklet, num_frames: int,
                 smooth_window: int = DEFAULT_SMOOTH_WINDOW) -> FaceTrack:
    """Interpolate, hold the ends and smooth one tracklet's boxes into a :class:`FaceTrack`."""
    frames = np.asarray(tracklet.frames, dtype=np.int64)
    boxes = np.stack(tracklet.boxes)
    raw = np.full((num_frames, 4), np.nan)
    scores = np.full(num_frames, np.nan)
    raw[frames] = boxes
    scores[frames] = tracklet.scores
    detected = np.zeros(num_frames, dtype=bool)
    detected[frames] = True
    every = np.arange(num_frames, dtype=np.float64)
    # Centre and size are interpolated and smoothed (not the corners), so a box keeps its shape.
    cs = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2.0, boxes[:, 2:] - boxes[:, :2]], 1)
    filled = np.stack([np.interp(every, frames, cs[:, c]) for c in range(4)], axis=1)
    smooth = moving_average(filled, smooth_window)
    centre, size = smooth[:, :2], smooth[:, 2:]
    out = np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=1)
    return FaceTrack(boxes=out, detected=detected, raw_boxes=raw, scores=scores)


def build_tracks(detections: Sequence[np.ndarray], *,
                 start_confidence: float = DEFAULT_START_CONFIDENCE,
                 max_gap: int = DEFAULT_MAX_GAP,
                 smooth_window: int = DEFAULT_SMOOTH_WINDOW,
                 min_presence: float = 0.0) -> list[FaceTrack]:
    """Steps 2-4 of the module docstring: the face tracks detected in at least
    ``min_presence`` of the frames, most prominent first.

    Chains below ``min_presence`` are dropped before their per-frame arrays are built: a long
    video has a short chain for every spurious detection, and a frame-long array for each grew
    memory with the square of the length (2 GB at 10 minutes, 15 000 frames).
    """
    num_frames = len(detections)
    tracklets = associate(detections, start_confidence=start_confidence, max_gap=max_gap)
    # a chain holds each of its frames once (tracklets are linked only when one ends before
    # the next starts), so this is FaceTrack.coverage, computed the same way
    tracks = [finish_track(chain, num_frames, smooth_window)
              for chain in link_tracklets(tracklets)
              if num_frames and len(chain.frames) / num_frames >= min_presence]
    return sorted(tracks, key=lambda tr: -tr.prominence)


def select_tracks(tracks: Sequence[FaceTrack], num_faces: int, *,
                  min_presence: float = DEFAULT_MIN_PRESENCE,
                  source: str | Path | None = None) -> list[FaceTrack]:
    """The ``num_faces`` most prominent tracks, ordered left to right (step 5).

    Raises:
        AvssError: fewer than ``num_faces`` tracks are present in ``min_presence`` of the frames.
    """
    if num_faces < 1:
        raise ValueError("num_faces must be at least 1")
    faces = sorted((tr for tr in tracks if tr.coverage >= min_presence),
                   key=lambda tr: -tr.prominence)
    if len(faces) < num_faces:
        raise AvssError(f"found {len(faces)} face(s) but {num_faces} speaker(s) were asked for "
                        f"(a face counts when detected in at least {100 * min_presence:.0f}% "
                        "of the frames)", source)
    chosen = faces[:num_faces]
    return sorted(chosen, key=lambda tr: float(tr.centres[:, 0].mean()))


def track_faces(frames_rgb: np.ndarray | Iterable[np.ndarray], num_faces: int, *,
                model: str | Path | None = None,
                min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                start_confidence: float = DEFAULT_START_CONFIDENCE,
                max_side: int = DEFAULT_MAX_SIDE, max_gap: int = DEFAULT_MAX_GAP,
                smooth_window: int = DEFAULT_SMOOTH_WINDOW,
                min_presence: float = DEFAULT_MIN_PRESENCE,
                source: str | Path | None = None, quiet: bool = True) -> list[FaceTrack]:
    """Detect and track faces and return the ``num_faces`` most prominent, left to right.

    Args:
        frames_rgb: ``uint8 [F, H, W, 3]`` RGB frames, or an iterable of ``[H, W, 3]`` frames
            decoded on the fly (a long video: only the detections are kept) (25 fps: ``max_gap`` and
            ``smooth_window`` count frames).
        num_faces: how many faces to return.
        model: FaceLandmarker ``.task`` bundle or ``face_detector.tflite`` (``None``: resolve).
        min_confidence, start_confidence, max_side, max_gap, smooth_window, min_presence: see
            the module docstring.
        source: the video, named in errors.
        quiet: no progress bar.

    Raises:
        AvssError: no model, or fewer faces than ``num_faces``.
    """
    from tqdm import tqdm

    if isinstance(frames_rgb, np.ndarray) and (frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3):
        raise ValueError(f"frames must be [F, H, W, 3], got {frames_rgb.shape}")
    total = len(frames_rgb) if hasattr(frames_rgb, "__len__") else None
    with FaceDetector(model, min_confidence=min_confidence, max_side=max_side) as detector, \
            tqdm(total=total, desc="detecting faces", unit="frame", disable=quiet) as bar:
        detections = detect_faces(frames_rgb, detector, progress=bar.update)
    tracks = build_tracks(detections, start_confidence=start_confidence, max_gap=max_gap,
                          smooth_window=smooth_window, min_presence=min_presence)
    return select_tracks(tracks, num_faces, min_presence=min_presence, source=source)
