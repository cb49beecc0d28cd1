"""MediaPipe FaceMesh (478 points) -> iBUG-68 equivalents, for the points the ROI pipeline needs.

The official mouth-ROI pipeline uses iBUG-68 points 33, 36, 39, 42, 45 (similarity transform
onto the mean face) and 48-67 (crop centre). FaceLandmarker outputs the 478-point FaceMesh
topology, so each needed iBUG point is given the FaceMesh vertex at the same anatomical place
(iBUG 36/45 are the outer eye corners of the eye on the image's left/right, i.e. the subject's
right/left eye):

=========  =====================================  ==================
iBUG-68    where                                  FaceMesh index
=========  =====================================  ==================
33         subnasale (bottom centre of the nose)  2
36, 39     right eye outer, inner corner          33, 133
42, 45     left eye inner, outer corner           362, 263
48, 54     outer mouth corners                    61, 291
49-53      upper lip, outer contour               39, 37, 0, 267, 269
55-59      lower lip, outer contour               405, 314, 17, 84, 181
60, 64     inner mouth corners                    78, 308
61-63      upper lip, inner contour               82, 13, 312
65-67      lower lip, inner contour               317, 14, 87
=========  =====================================  ==================

Checked on the LRS2/LRS3 miniatures (frames aligned onto the 20-words mean face with the four
eye corners): the lip points sit at the same fractions along the lip contours as the mean face's
(e.g. iBUG 55 vs FaceMesh 405: 0.6 px apart in the 256-px frame). For iBUG 33 the anatomical
match (vertex 2, under the columella) is used; vertex 164 on the philtrum lands nearer the mean
face's point 33 on those clips (1.6 vs 4.5 px), which reflects those faces being shorter
than the LRW average, not a different landmark.
"""

from __future__ import annotations

import numpy as np

#: iBUG-68 index -> FaceMesh (478-point) index, for the points the ROI pipeline uses.
FACEMESH_FOR_IBUG68: dict[int, int] = {
    33: 2,
    36: 33, 39: 133, 42: 362, 45: 263,
    48: 61, 49: 39, 50: 37, 51: 0, 52: 267, 53: 269, 54: 291,
    55: 405, 56: 314, 57: 17, 58: 84, 59: 181,
    60: 78, 61: 82, 62: 13, 63: 312, 64: 308, 65: 317, 66: 14, 67: 87,
}

#: The five stable points of the similarity transform (nose, eye corners).
STABLE_POINTS: tuple[int, ...] = (33, 36, 39, 42, 45)
#: The mouth points whose mean is the crop centre.
MOUTH_POINTS: tuple[int, ...] = tuple(range(48, 68))

#: The 40 FaceMesh vertices of MediaPipe's lip contours (``FACE_LANDMARKS_LIPS``), for checks.
FACEMESH_LIPS: tuple[int, ...] = (
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
    267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
)

_IBUG = np.array(sorted(FACEMESH_FOR_IBUG68), dtype=np.int64)
_MESH = np.array([FACEMESH_FOR_IBUG68[i] for i in _IBUG], dtype=np.int64)


def to_ibug68(facemesh: np.ndarray) -> np.ndarray:
    """Pick the iBUG-68 equivalents out of FaceMesh landmarks.

    Shape:
        facemesh: ``[..., 478, D]`` (D = 2 or 3 coordinates).
        returns: ``float64 [..., 68, 2]``: x, y of the mapped points; the iBUG points this
        pipeline does not use (jaw, brows, upper nose, eyelids) are NaN.
    """
    facemesh = np.asarray(facemesh, dtype=np.float64)
    if facemesh.ndim < 2 or facemesh.shape[-2] < 478:
        raise ValueError(f"expected [..., 478, D] FaceMesh landmarks, got {facemesh.shape}")
    out = np.full(facemesh.shape[:-2] + (68, 2), np.nan)
    out[..., _IBUG, :] = facemesh[..., _MESH, :2]
    return out
