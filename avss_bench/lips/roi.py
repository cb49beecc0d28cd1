"""The official mouth-ROI geometry, from per-frame iBUG-68 landmarks to 96x96 grey crops.

Reproduces the CTCNet/IIANet/VisualVoice preprocessing (mpc001's ``crop_mouth_from_video``):

1. frames without landmarks are filled by linear interpolation between the nearest detected
   frames; leading/trailing gaps hold the first/last detection (:func:`interpolate_missing`);
2. the landmarks are averaged over a 12-frame window, frame ``t`` using frames ``t..t+11``; the
   last 11 frames reuse the last full window (:func:`smooth_landmarks`). The official code
   fails on clips shorter than the window; here the window shrinks to the clip;
3. a least-squares similarity transform (Umeyama; equal to ``skimage``'s
   ``estimate_transform('similarity')``) maps the smoothed points 33, 36, 39, 42, 45 onto the
   20-words mean face in a 256x256 frame (:func:`similarity_transform`);
4. the crop centre is the mean of the frame's own (interpolated, *unsmoothed*) mouth points
   48-67 mapped by that transform; it is clamped so that the 96x96 window lies inside the
   256x256 frame (the official "too much bias" checks run after the clamp and never fire),
   then rounded half-to-even as Python's ``round``;
5. the frame is warped with ``skimage.transform.warp`` (bilinear, zero outside, values
   ``*255`` truncated to uint8 as the official code does) and cut; only the 96x96 window is
   computed, which is the same sampling as warping the full 256x256 frame and slicing it;
6. RGB -> grey with OpenCV's weights (the official code converts its BGR frames likewise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avss_bench.lips.ibug68 import MOUTH_POINTS, STABLE_POINTS

WINDOW = 12
CROP_SIZE = 96
STD_SIZE = 256

#: Points 33, 36, 39, 42, 45 of ``20words_mean_face.npy`` (LRW mean face, 256x256 frame).
MEAN_FACE_STABLE = np.array([
    [128.87017960974802, 137.30253355584708],
    [92.52245552947952, 94.36876013925871],
    [112.7724172413806, 94.94360869870115],
    [145.52511509158018, 94.5349986248377],
    [166.67710071343456, 93.56562295717796],
])


def interpolate_missing(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Fill frames without a detection, as the official pipeline does.

    Inner gaps: ``p[i] + k / (j - i) * (p[j] - p[i])`` between detected frames ``i < j``;
    frames before the first / after the last detection copy it.

    Shape:
        points: ``[F, K, 2]`` (rows of frames with ``found == False`` are ignored).
        found: ``bool [F]``.
        returns: ``float64 [F, K, 2]``.

    Raises:
        ValueError: no frame has a detection.
    """
    points = np.array(points, dtype=np.float64)
    found = np.asarray(found, dtype=bool)
    valid = np.flatnonzero(found)
    if valid.size == 0:
        raise ValueError("no frame has landmarks")
    for i, j in zip(valid[:-1], valid[1:], strict=True):
        if j - i > 1:
            delta = points[j] - points[i]
            for k in range(1, j - i):
                points[i + k] = points[i] + (k / float(j - i)) * delta
    points[: valid[0]] = points[valid[0]]
    points[valid[-1] + 1:] = points[valid[-1]]
    return points


def smooth_landmarks(points: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Forward moving average: frame ``t`` gets the mean of ``t .. t+window-1``.

    The last ``window - 1`` frames get the last full window's mean (the official code reuses
    the last transform there). Clips shorter than ``window`` use one window of all frames.

    Shape:
        points: ``[F, K, 2]``; returns ``float64 [F, K, 2]``.
    """
    points = np.asarray(points, dtype=np.float64)
    frames = len(points)
    width = min(window, frames)
    means = np.lib.stride_tricks.sliding_window_view(points, width, axis=0).mean(axis=-1)
    start = np.minimum(np.arange(frames), frames - width)
    return means[start]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection).

    Closed form of Umeyama (1991) in 2-D, written with complex numbers: the scale-rotation
    ``a = sum(conj(s_i) d_i) / sum(|s_i|^2)`` over the centred points.

    Shape:
        src, dst: ``[N, 2]`` (N >= 2, x/y pairs); returns the ``3x3`` homogeneous matrix ``M``
        with ``dst ~ M @ [x, y, 1]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = zs.mean(), zd.mean()
    zs, zd = zs - ms, zd - md
    denom = np.sum(np.abs(zs) ** 2)
    if denom == 0:
        raise ValueError("degenerate source points (all equal)")
    a = np.sum(np.conj(zs) * zd) / denom
    t = md - a * ms
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag], [0.0, 0.0, 1.0]])


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``[..., 2]`` points through a 3x3 homogeneous (affine) matrix."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


@dataclass(frozen=True)
class RoiGeometry:
    """Where each frame's crop comes from.

    Attributes:
        matrices: ``[F, 3, 3]`` similarity transforms, source pixels -> 256x256 mean-face frame.
        centres: ``[F, 2]`` mean of the transformed mouth points 48-67 (x, y), before clamping.
        origins: ``int [F, 2]`` top-left corner (x, y) of the crop in the 256x256 frame.
        landmarks: ``[F, 68, 2]`` interpolated (unsmoothed) landmarks in source pixels.
    """

    matrices: np.ndarray
    centres: np.ndarray
    origins: np.ndarray
    landmarks: np.ndarray


def crop_origin(centre: np.ndarray, crop_size: int = CROP_SIZE,
                std_size: int = STD_SIZE) -> tuple[int, int]:
    """Top-left (x, y) of the crop around ``centre``, clamped into the frame as the official code.
    """
    half = crop_size // 2
    origin = []
    for value in centre:
        value = float(min(max(value, half), std_size - half))
        origin.append(int(round(value)) - half)  # round(): half to even, like the official code
    return origin[0], origin[1]


def roi_geometry(points68: np.ndarray, found: np.ndarray, *, window: int = WINDOW,
                 crop_size: int = CROP_SIZE, std_size: int = STD_SIZE,
                 mean_face: np.ndarray = MEAN_FACE_STABLE) -> RoiGeometry:
    """Steps 1-4 of the module docstring: transforms and crop windows per frame.

    Shape:
        points68: ``[F, 68, 2]`` landmarks in source pixels (only points 33, 36, 39, 42, 45 and
        48-67 are read); found: ``bool [F]``.
    """
    points = interpolate_missing(points68, found)
    stable = list(STABLE_POINTS)
    mouth = list(MOUTH_POINTS)
    smoothed = smooth_landmarks(points[:, stable], window)
    matrices = np.stack([similarity_transform(s, mean_face) for s in smoothed])
    mouth_pts = np.einsum("fij,fkj->fki", matrices[:, :2, :2], points[:, mouth])
    mouth_pts += matrices[:, None, :2, 2]
    centres = mouth_pts.mean(axis=1)
    origins = np.array([crop_origin(c, crop_size, std_size) for c in centres], dtype=np.int64)
    return RoiGeometry(matrices=matrices, centres=centres, origins=origins, landmarks=points)


def warp_crop(frame: np.ndarray, matrix: np.ndarray, origin: tuple[int, int],
              crop_size: int = CROP_SIZE) -> np.ndarray:
    """The ``crop_size`` square at ``origin`` of the frame warped by ``matrix`` (step 5).

    scikit-image's ``warp`` (bilinear, zero outside the frame, output clipped to the frame's
    range) as the official code calls it, but without its cost on large frames: ``warp``
    converts the whole frame to float64 and scans it, 20 ms per crop on a 1080p frame, for a
    square whose source is a patch of a few hundred pixels. :func:`_warp_patch` converts only
    that patch and gives the same bytes (``tests/test_lips.py`` compares them).

    Shape:
        frame: ``uint8 [H, W, C]``; returns ``uint8 [crop_size, crop_size, C]``.
    """
    shift = np.array([[1.0, 0.0, origin[0]], [0.0, 1.0, origin[1]], [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(matrix) @ shift  # crop pixel -> source pixel
    warped = _warp_patch(frame, inverse, crop_size)
    if warped is None:
        from skimage.transform import warp

        warped = warp(frame, inverse_map=inverse, output_shape=(crop_size, crop_size))
    return (warped * 255).astype(np.uint8)  # truncation, as the official code


def _warp_patch(frame: np.ndarray, inverse: np.ndarray, crop_size: int) -> np.ndarray | None:
    """skimage ``warp(frame, inverse, (crop_size, crop_size))`` reading only the source patch.

    The sampling routine ``warp`` itself uses (``_warp_fast``) runs on a float64 plane per
    channel whose index (0, 0) is the frame's, so every sample coordinate is computed exactly
    as on the whole frame; only the patch the square maps back to (with a 2-pixel margin, which
    bilinear interpolation never leaves) holds values, the rest of the plane is never read.
    The plane ends at the patch's bottom-right corner (or the frame's edge, where the zero
    padding then starts exactly as in ``warp``). The clip to the frame's value range is
    ``warp``'s. Returns ``None`` where this does not apply (a frame that is not ``uint8 [H, W,
    C]``, a non-finite transform, a square entirely off the frame, a scikit-image without the
    routine): the caller then uses ``warp`` itself.
    """
    try:
        from skimage.transform._warps_cy import _warp_fast
        from skimage.util import img_as_float
    except ImportError:  # another scikit-image layout: use the public warp
        return None
    if frame.dtype != np.uint8 or frame.ndim != 3 or not np.isfinite(inverse).all():
        return None
    height, width, channels = frame.shape
    edge = crop_size - 1.0
    xs, ys, _ = inverse @ np.array([[0.0, edge, 0.0, edge], [0.0, 0.0, edge, edge], [1.0] * 4])
    if max(abs(xs).max(), abs(ys).max()) > 1e6:
        return None
    x0, y0 = max(0, int(np.floor(xs.min())) - 2), max(0, int(np.floor(ys.min())) - 2)
    x1, y1 = min(width, int(np.ceil(xs.max())) + 3), min(height, int(np.ceil(ys.max())) + 3)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    values = img_as_float(frame[y0:y1, x0:x1])
    planes = []
    for channel in range(channels):
        plane = np.empty((y1, x1), dtype=np.float64)  # only the patch is written and read
        plane[y0:, x0:] = values[..., channel]
        planes.append(_warp_fast["float64_t"](plane, inverse, output_shape=(crop_size, crop_size),
                                              order=1, mode="constant", cval=0.0))
    warped = np.dstack(planes)
    # warp's clip: to the input's range, widened to the fill value 0 when the output has it
    low, high = img_as_float(np.array([frame.min(), frame.max()], dtype=np.uint8))
    if not low <= 0.0 <= high and warped.min() <= 0.0 <= warped.max():
        low, high = min(low, 0.0), max(high, 0.0)
    np.clip(warped, low, high, out=warped)
    return warped


def to_gray(crops: np.ndarray, order: str = "rgb") -> np.ndarray:
    """Colour crops to grey with OpenCV's fixed-point weights.

    Shape:
        crops: ``uint8 [F, H, W, 3]`` in ``order`` (``"rgb"`` or ``"bgr"``); returns
        ``uint8 [F, H, W]``.
    """
    import cv2

    code = {"rgb": cv2.COLOR_RGB2GRAY, "bgr": cv2.COLOR_BGR2GRAY}[order]
    frames, height, width, _ = crops.shape
    tall = np.ascontiguousarray(crops).reshape(frames * height, width, 3)
    return cv2.cvtColor(tall, code).reshape(frames, height, width)


def mouth_rois(frames_rgb: np.ndarray, points68: np.ndarray, found: np.ndarray, *,
               window: int = WINDOW, crop_size: int = CROP_SIZE, std_size: int = STD_SIZE,
               gray: bool = True) -> np.ndarray:
    """Mouth crops of a clip from its frames and landmarks (the whole module docstring).

    Shape:
        frames_rgb: ``uint8 [F, H, W, 3]``; points68: ``[F, 68, 2]``; found: ``bool [F]``.
        returns: ``uint8 [F, crop_size, crop_size]`` (``[..., 3]`` RGB if ``gray=False``).
    """
    if len(frames_rgb) != len(points68) or len(found) != len(points68):
        raise ValueError("frames, landmarks and found must have the same length")
    geometry = roi_geometry(points68, found, window=window, crop_size=crop_size,
                            std_size=std_size)
    crops = np.stack([
        warp_crop(frame, matrix, tuple(origin), crop_size)
        for frame, matrix, origin in zip(frames_rgb, geometry.matrices, geometry.origins,
                                         strict=True)
    ])
    return to_gray(crops) if gray else crops
