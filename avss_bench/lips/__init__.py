"""Mouth-ROI extraction: MediaPipe landmarks -> the official 96x96 grayscale crops at 25 fps.

Public API: :func:`extract_mouth_rois`, :class:`MouthRoiExtractor`, :func:`landmarks_68`,
:class:`LandmarkTrack`, :class:`FaceLandmarkTracker`, :func:`resolve_landmarker_path`,
:func:`process_extractor` (one extractor per worker process).
Heavy imports (MediaPipe, OpenCV, scikit-image) happen on first use.
"""

from __future__ import annotations

from avss_bench.lips.extract import (
    DEFAULT_MIN_FACE_FRACTION,
    LandmarkTrack,
    MouthRoiExtractor,
    extract_mouth_rois,
    landmarks_68,
    process_extractor,
)
from avss_bench.lips.landmarker import FaceLandmarkTracker, resolve_landmarker_path

__all__ = [
    "DEFAULT_MIN_FACE_FRACTION",
    "FaceLandmarkTracker",
    "LandmarkTrack",
    "MouthRoiExtractor",
    "extract_mouth_rois",
    "landmarks_68",
    "process_extractor",
    "resolve_landmarker_path",
]
