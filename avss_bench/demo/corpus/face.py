"""Talking faces: a real face photograph, varied per speaker, with a mouth that opens per frame.

The photograph is `skimage.data.astronaut()` (NASA portrait of Eileen Collins, public domain),
which ships inside the scikit-image wheel, so nothing is downloaded. Each speaker sees it
through its own look (mirroring, colour, zoom, face width, roll, framing); each frame adds a
slow head motion and opens the jaw by a given amount: the lower lip, chin and jaw are pulled
down by a smooth displacement field and the gap under the upper teeth is filled with a dark
mouth cavity. One `cv2.remap` per frame renders it from the photograph.

The mouth geometry below was measured once on the photograph with MediaPipe FaceLandmarker
(tasks API, IMAGE mode); rendering needs no landmark model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["FaceLook", "TalkingFace", "head_motion", "make_look", "opening_from_envelope"]

FRAME_SIZE = 160

# Geometry of skimage.data.astronaut() (512x512, x right, y down), from MediaPipe landmarks:
# inner mouth corners 78/308, the upper-teeth / lower-lip boundary at the centre (between
# inner-lip points 13 and 14, where the teeth end), chin 152, jaw 136/365, face box of all
# 478 points x 180.7..270.2, y 71.8..177.4.
_CORNER_L = np.array([203.9, 139.7])
_CORNER_R = np.array([242.9, 141.1])
_SPLIT_MID_Y = 146.6  # bottom edge of the upper teeth at the mouth centre
_MOUTH_CX = 223.2
_CHIN_Y = 177.4
_FACE_CENTRE = np.array([225.5, 124.6])
_FACE_HEIGHT = 105.6


@lru_cache(maxsize=1)
def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, :3])


@dataclass(frozen=True)
class FaceLook:
    """How one speaker's face looks (all angles in degrees)."""

    mirror: bool
    hue_deg: float  # hue rotation of the whole picture
    saturation: float  # saturation gain
    gamma: float  # brightness curve (< 1 brighter)
    crop_scale: float  # crop side / face height (the LRS2 crops are about 1.6-1.8)
    stretch_x: float  # face width gain
    roll_deg: float
    offset: tuple[float, float]  # face position in the frame, in output pixels
    grayscale: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "mirror": self.mirror,
            "hue_deg": round(self.hue_deg, 2),
            "saturation": round(self.saturation, 3),
            "gamma": round(self.gamma, 3),
            "crop_scale": round(self.crop_scale, 3),
            "stretch_x": round(self.stretch_x, 3),
            "roll_deg": round(self.roll_deg, 2),
            "offset": [round(v, 2) for v in self.offset],
            "grayscale": self.grayscale,
        }


# A palette of looks that stay natural enough for face detection; speakers cycle through it.
_PALETTE = [
    dict(hue_deg=0.0, saturation=1.0, gamma=1.0),
    dict(hue_deg=-8.0, saturation=0.75, gamma=0.85),
    dict(hue_deg=12.0, saturation=1.15, gamma=1.15),
    dict(hue_deg=0.0, saturation=0.0, gamma=1.0, grayscale=True),
    dict(hue_deg=-15.0, saturation=1.3, gamma=1.25),
    dict(hue_deg=6.0, saturation=0.5, gamma=0.75),
    dict(hue_deg=20.0, saturation=0.9, gamma=0.95),
    dict(hue_deg=-4.0, saturation=1.4, gamma=1.35),
]


def make_look(index: int, rng: np.random.Generator) -> FaceLook:
    """The look of speaker `index`: a palette colour, mirrored every other one, random framing."""
    colour = _PALETTE[index % len(_PALETTE)]
    return FaceLook(
        mirror=bool(index % 2),
        hue_deg=float(colour["hue_deg"] + rng.uniform(-3, 3)),
        saturation=float(colour["saturation"]),
        gamma=float(colour["gamma"]),
        crop_scale=float(rng.uniform(1.55, 1.95)),
        stretch_x=float(rng.uniform(0.9, 1.1)),
        roll_deg=float(rng.uniform(-6, 6)),
        offset=(float(rng.uniform(-6, 6)), float(rng.uniform(-4, 6))),
        grayscale=bool(colour.get("grayscale", False)),
    )


def _recolour(img: np.ndarray, look: FaceLook) -> np.ndarray:
    import cv2

    if look.grayscale:
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        out = np.repeat(gray[:, :, None], 3, axis=2)
    else:
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = np.mod(hsv[:, :, 0] + look.hue_deg, 360.0)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * look.saturation, 0.0, 1.0)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    out = np.clip(out, 0.0, 1.0) ** look.gamma
    return np.ascontiguousarray(out * 255.0, dtype=np.float32)


class TalkingFace:
    """Renders one speaker's face at a given jaw opening and head pose.

    Args:
        look: the speaker's appearance (see `make_look`).
        size: output frame side in pixels.
    """

    def __init__(self, look: FaceLook, size: int = FRAME_SIZE) -> None:
        import cv2

        self.look = look
        self.size = size
        src = _recolour(_photo(), look)
        # Source -> frame similarity (plus face-width stretch and mirroring).
        side = look.crop_scale * _FACE_HEIGHT
        scale = size / side
        self._src_scale = scale
        if scale < 0.8:  # anti-alias before a strong reduction
            src = cv2.GaussianBlur(src, (0, 0), 0.45 / scale)
        self._src = src
        theta = np.deg2rad(look.roll_deg)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        lin = scale * rot @ np.diag([(-1.0 if look.mirror else 1.0) * look.stretch_x, 1.0])
        # Put the face centre a little above the frame centre, as LRS2 crops do.
        centre_out = np.array([size / 2 + look.offset[0], size / 2 - 0.06 * size + look.offset[1]])
        self._lin = lin
        self._off = centre_out - lin @ _FACE_CENTRE
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        self._grid = np.stack([xx.ravel(), yy.ravel()])  # [2, P] output pixel centres
        # Mouth geometry in source pixels.
        self._half_w = (_CORNER_R[0] - _CORNER_L[0]) / 2.0
        self._corner_y = (_CORNER_L[1] + _CORNER_R[1]) / 2.0
        self._max_open = 0.42 * (_CORNER_R[0] - _CORNER_L[0])  # jaw drop at full opening
        self._fade = 34.0  # the displacement fades out over this distance below the chin
        cavity = np.array([[[110, 35, 40]]], dtype=np.uint8)  # dark red mouth interior
        self._cavity = _recolour(cavity, look)[0, 0]

    def _window(self, lin: np.ndarray, off: np.ndarray):
        """Output-pixel window (rows, cols) that covers the moving jaw region, or None."""
        hw = self._half_w * 1.6 + 2.0
        corners = np.array(
            [
                [_MOUTH_CX - hw, self._corner_y - 3.0],
                [_MOUTH_CX + hw, self._corner_y - 3.0],
                [_MOUTH_CX - hw, _CHIN_Y + self._fade + 2.0],
                [_MOUTH_CX + hw, _CHIN_Y + self._fade + 2.0],
            ]
        ).T
        q = lin @ corners + off[:, None]
        x0, y0 = np.floor(q.min(axis=1)).astype(int) - 1
        x1, y1 = np.ceil(q.max(axis=1)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.size), min(y1, self.size)
        if x1 <= x0 or y1 <= y0:
            return None
        return (y0, y1), (x0, x1)

    def render(self, opening: float, pose: tuple[float, float, float, float]) -> np.ndarray:
        """One RGB frame.

        Args:
            opening: jaw opening in [0, 1] (0 = the photograph's resting smile).
            pose: head motion (dx, dy in output pixels, roll in degrees, zoom factor).

        Returns:
            uint8 `[size, size, 3]`.
        """
        import cv2

        dx, dy, roll, zoom = pose
        c = np.array([self.size / 2.0, self.size / 2.0])
        th = np.deg2rad(roll)
        jit = zoom * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        # frame point q = jit @ (p - c) + c + d, p = lin @ s + off  =>  s = A^-1 (q - b)
        lin = jit @ self._lin
        off = jit @ (self._off - c) + c + np.array([dx, dy])
        lin_inv = np.linalg.inv(lin)
        src = lin_inv @ (self._grid - off[:, None])
        map_x = src[0].reshape(self.size, self.size).astype(np.float32)
        map_y = src[1].reshape(self.size, self.size).astype(np.float32)

        # Jaw opening: everything below the upper teeth moves down by a lens-shaped amount.
        # Only the window around the mouth and jaw is touched.
        opening = float(np.clip(opening, 0.0, 1.0))
        win = self._window(lin, off)
        alpha = None
        if opening > 0 and win is not None:
            (y0, y1), (x0, x1) = win
            sx = map_x[y0:y1, x0:x1].astype(np.float64)
            sy = map_y[y0:y1, x0:x1].astype(np.float64)
            rel = np.clip((sy - _SPLIT_MID_Y) / (_CHIN_Y - _SPLIT_MID_Y), 0.0, 1.0)
            u2 = ((sx - _MOUTH_CX) / (self._half_w * (1.0 + 0.55 * rel))) ** 2
            across = np.sqrt(np.clip(1.0 - u2, 0.0, 1.0))
            # The teeth edge curves up towards the mouth corners (a smile).
            split = self._corner_y + (_SPLIT_MID_Y - self._corner_y) * np.clip(1.0 - u2, 0.0, 1.0)
            below_chin = np.clip((sy - _CHIN_Y) / self._fade, 0.0, 1.0)
            down = 0.5 + 0.5 * np.cos(np.pi * below_chin)
            disp = np.where(sy >= split, opening * self._max_open * across * down, 0.0)
            sy_new = sy - disp
            # Inside the opened gap we would sample above the teeth edge: that is the cavity.
            gap = (sy >= split) & (sy_new < split)
            depth = np.clip(split - sy_new, 0.0, None)
            alpha = np.clip(depth / 1.5, 0.0, 1.0) * np.clip((sy - split) + 0.5, 0.0, 1.0)
            alpha = np.where(gap, alpha, 0.0)
            map_y[y0:y1, x0:x1] = np.where(gap, split, sy_new)

        img = cv2.remap(
            self._src, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        if alpha is not None and np.any(alpha > 0):
            # Dark mouth cavity, darkest in the middle of the opening.
            mid = 1.0 - np.abs(2.0 * (sy - split) / np.maximum(disp, 1e-3) - 1.0)
            shade = (0.55 - 0.35 * np.clip(mid, 0.0, 1.0))[:, :, None]
            a = alpha[:, :, None]
            patch = img[y0:y1, x0:x1]
            img[y0:y1, x0:x1] = patch * (1.0 - a) + self._cavity[None, None, :] * shade * a
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def head_motion(n_frames: int, rng: np.random.Generator, fps: float = 25.0) -> np.ndarray:
    """Slow, smooth head motion: per frame (dx, dy, roll_deg, zoom).

    Shape:
        `[n_frames, 4]`.
    """
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, 4))
    amps = [1.6, 1.2, 1.5, 0.015]
    for j, amp in enumerate(amps):
        for _ in range(2):
            freq = rng.uniform(0.15, 0.8)
            out[:, j] += amp / 2 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    out[:, 3] += 1.0
    return out


def opening_from_envelope(envelope: np.ndarray) -> np.ndarray:
    """Map a frame-rate RMS envelope to jaw openings in [0, 1].

    Loud frames open fully; frames 30 dB below the utterance's loud frames stay closed; the
    mapping is on a compressed amplitude scale, smoothed over three frames as a jaw would be.
    """
    env = np.asarray(envelope, dtype=np.float64)
    ref = np.percentile(env, 90) + 1e-12
    level = np.clip(env / ref, 0.0, None)
    opening = np.clip((level**0.6 - 10 ** (-30 / 20 * 0.6)) / (1 - 10 ** (-30 / 20 * 0.6)), 0, 1)
    kernel = np.array([0.25, 0.5, 0.25])
    padded = np.pad(opening, 1, mode="edge")
    return np.convolve(padded, kernel, mode="valid")
