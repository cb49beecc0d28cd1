"""MediaPipe FaceLandmarker: locating the model file, and a VIDEO-mode tracker that is closed.

Model resolution (:func:`resolve_landmarker_path`), first match wins:

1. an explicit path (``--landmarker PATH`` / ``landmarker=`` argument);
2. the environment variable ``AVSS_BENCH_LANDMARKER``;
3. the cache file ``face_landmarker.task`` in the avss-bench cache folder
   (``avss_bench.core.cache``: ``$AVSS_BENCH_CACHE``, ``$XDG_CACHE_HOME/avss-bench``,
   ``~/.cache/avss-bench``), accepted only if its sha256 is the pinned one;
4. the copy bundled in this package (``avss_bench/lips/models/face_landmarker.task``,
   Apache-2.0, see ``models/NOTICE.md``), accepted only if its sha256 is the pinned one;
5. only when the bundled copy is missing or damaged (and ``download=True``): a download from
   MediaPipe's official model address into the cache, checked against the pinned sha256 and
   written atomically. Tests never download.

MediaPipe >= 0.10.30 ships no model files, hence the bundled copy: the default works offline.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avss_bench.core.cache import cache_path
from avss_bench.core.download import download
from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import sha256_of
from avss_bench.core.native_logs import native_stderr_silenced

MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
    "float16/1/face_landmarker.task"
)
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
ENV_VAR = "AVSS_BENCH_LANDMARKER"
MODEL_FILENAME = "face_landmarker.task"
NUM_LANDMARKS = 478  # FaceMesh topology with irises


def bundled_model_path() -> Path:
    """The model file shipped inside the package (Apache-2.0, see ``models/NOTICE.md``)."""
    return Path(__file__).resolve().parent / "models" / MODEL_FILENAME


@functools.lru_cache(maxsize=8)
def _has_pinned_sha256(path: Path, size: int, mtime_ns: int) -> bool:
    return sha256_of(path) == MODEL_SHA256


def is_pinned_model(path: Path) -> bool:
    """Whether ``path`` is a file with the pinned sha256 (hashed once per file version)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return path.is_file() and _has_pinned_sha256(path, stat.st_size, stat.st_mtime_ns)


def default_cache_path() -> Path:
    """Where a downloaded model is kept: ``face_landmarker.task`` in the cache folder."""
    return cache_path(MODEL_FILENAME)



def download_model(dest: Path, url: str = MODEL_URL, sha256: str = MODEL_SHA256,
                   timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, refusing content whose sha256 differs."""
    try:
        return download(url, dest, sha256, desc="FaceLandmarker model", timeout=timeout)
    except AvssError as exc:
        raise AvssError(f"{exc}; download it by hand and pass --landmarker PATH or set "
                        f"{ENV_VAR}") from None


def resolve_landmarker_path(explicit: str | Path | None = None, *, download: bool = True) -> Path:
    """The FaceLandmarker ``.task`` file to use (order in the module docstring).

    Args:
        explicit: a path given by the user; it must exist (no fall-through when it does not).
        download: allow step 5 (network), used only when the bundled copy is missing or
            damaged. With ``False`` that case is an error.

    Raises:
        AvssError: the named file does not exist, or no model is found and none may be or could
            be downloaded.
    """
    for given, origin in ((explicit, "landmarker model"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise AvssError(f"{origin} not found", path)
            return path
    cached = default_cache_path()
    if is_pinned_model(cached):
        return cached
    bundled = bundled_model_path()
    if is_pinned_model(bundled):
        return bundled
    if not download:
        raise AvssError(f"no FaceLandmarker model (the bundled {bundled} is missing or its sha256 "
                        f"differs): reinstall avss-bench, pass --landmarker PATH, set {ENV_VAR}, "
                        f"or put the file at {cached}")
    return download_model(cached)


class FaceLandmarkTracker:
    """A MediaPipe FaceLandmarker in VIDEO mode, as a context manager.

    VIDEO mode tracks the face from frame to frame (the face detector runs only when tracking is
    lost) and needs strictly increasing timestamps; this class generates them. Call
    :meth:`reset` between clips: it feeds one blank frame, which drops the tracked face and the
    landmark filter state, so that a clip's landmarks do not depend on the clip before it
    (measured: identical to a freshly created landmarker). Timestamps never start at 0, because
    MediaPipe's filter treats a first timestamp of 0 differently.

    Args:
        model: path of the ``.task`` file, or ``None`` to resolve it (see module docstring).
        num_faces: most faces reported per frame.
        min_detection_confidence, min_presence_confidence, min_tracking_confidence: MediaPipe's
            thresholds (its defaults, 0.5).
    """

    def __init__(self, model: str | Path | None = None, *, num_faces: int = 1,
                 min_detection_confidence: float = 0.5, min_presence_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.model_path = resolve_landmarker_path(model)
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=num_faces,
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        try:
            with native_stderr_silenced():
                self._landmarker: Any = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise AvssError(f"cannot load FaceLandmarker model ({exc})", self.model_path) from None
        self.num_faces = num_faces
        self._timestamp_ms = 1000
        self._used = False  # a frame was processed since creation or the last reset
        self._blank_due = False

    def __enter__(self) -> FaceLandmarkTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the MediaPipe graph (idempotent)."""
        landmarker, self._landmarker = getattr(self, "_landmarker", None), None
        if landmarker is not None:
            with native_stderr_silenced():  # LiteRT logs "DestroyAccelerator" on close
                landmarker.close()

    def reset(self) -> None:
        """Forget the tracked face before the next clip (effective at the next :meth:`detect`)."""
        self._blank_due = self._used

    def _run(self, frame: np.ndarray, step_ms: int):  # noqa: ANN202 - FaceLandmarkerResult
        import mediapipe as mp

        if self._landmarker is None:
            raise RuntimeError("FaceLandmarkTracker is closed")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        # Every call, not only the first: LiteRT also warns whenever a frame's buffer happens to
        # be unaligned, which depends on where numpy placed it.
        with native_stderr_silenced():
            result = self._landmarker.detect_for_video(image, self._timestamp_ms)
        self._timestamp_ms += max(1, int(step_ms))
        return result

    def detect(self, frame_rgb: np.ndarray, step_ms: int = 40,
               indices: Sequence[int] | None = None) -> list[np.ndarray]:
        """Landmarks of the faces in one RGB frame.

        Args:
            frame_rgb: ``uint8 [H, W, 3]`` RGB image, the next frame of the current clip.
            step_ms: time to the next frame (40 ms at 25 fps); only its monotonicity matters
                to MediaPipe's tracking filter.
            indices: FaceMesh vertices to return (all 478 when ``None``); converting only the
                needed ones saves time.

        Returns:
            One ``float64 [N, 3]`` array per face (at most ``num_faces``; N = 478 or
            ``len(indices)``): x and y in pixels of this frame, z in MediaPipe's relative depth
            units (scaled like x).
        """
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            raise ValueError("frame_rgb must be uint8 [H, W, 3]")
        if self._blank_due:
            self._run(np.zeros_like(frame_rgb), step_ms)
            self._blank_due = False
        self._used = True
        result = self._run(frame_rgb, step_ms)
        height, width = frame_rgb.shape[:2]
        faces = []
        for face in result.face_landmarks:
            chosen = face if indices is None else [face[i] for i in indices]
            points = np.array([(p.x, p.y, p.z) for p in chosen], dtype=np.float64)
            points *= (width, height, width)
            faces.append(points)
        return faces
