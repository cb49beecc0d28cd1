"""Damaged video for robustness tests: pure functions over a lip ROI array (uint8 [F, H, W]).

A condition is written `kind:value` (e.g. `zero:30`) and applied by the data loader to the raw
crops, before the 88x88 crop and normalisation, so every separator sees the same damage:

- `zero:K`    face lost: K % of the frames (drawn at random) are black (all pixels 0), what a
              pipeline that writes zeros for frames without a detected face produces.
- `freeze:K`  occlusion / tracker stall: K % of the frames (drawn at random) repeat the last
              intact frame before them (the first intact frame when none precedes).
- `offset:K`  audio-visual offset of K frames (40 ms each at 25 fps): K > 0 delays the video
              (frame i shows frame i-K), K < 0 advances it; the edge frame fills the gap.
- `lowres:P`  lower lip resolution: each frame is area-downsampled to P x P pixels and
              bilinearly upsampled back to its size.
- `fps:R`     dropped frame rate: the video is sampled at R fps (R <= 25) and each sample held
              until the next (12.5 fps shows frames 0, 0, 2, 2, 4, 4, ...).
- `clean`     no change.

Randomness comes from `numpy.random.default_rng([seed, index])` (index = the item's position in
its split), so a condition is reproducible and independent of which process loads an item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from avss_bench.core.constants import VIDEO_FPS
from avss_bench.core.errors import AvssError

#: Every kind, with the unit of its parameter (used in the robustness report's axes).
KINDS: dict[str, str] = {
    "clean": "",
    "zero": "frames zeroed (%)",
    "freeze": "frames frozen (%)",
    "offset": "audio-visual offset (frames)",
    "lowres": "lip resolution (px)",
    "fps": "frame rate (fps)",
}


@dataclass(frozen=True)
class VisualCondition:
    """One visual damage: its kind, its parameter and the seed of its random draws."""

    kind: str
    value: float = 0.0
    seed: int = 0

    @property
    def label(self) -> str:
        """Folder-safe name, e.g. `zero30`, `offset-2`, `fps12.5`, `clean`."""
        return "clean" if self.kind == "clean" else f"{self.kind}{_number(self.value)}"

    @property
    def spec(self) -> str:
        """The `kind:value` form that parses back to this condition."""
        return "clean" if self.kind == "clean" else f"{self.kind}:{_number(self.value)}"

    def as_dict(self) -> dict[str, object]:
        """What results record: kind, value, seed and the spec."""
        return {"kind": self.kind, "value": self.value, "seed": self.seed, "spec": self.spec}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_condition(spec: str, seed: int = 0) -> VisualCondition:
    """`kind:value` (or `kind=value`) -> a checked VisualCondition; a bad spec is an AvssError."""
    text = spec.strip().lower().replace("=", ":")
    kind, _, raw = text.partition(":")
    if kind not in KINDS:
        raise AvssError(f"unknown visual condition '{spec}'; use one of "
                        + ", ".join(f"{k}:VALUE" if k != "clean" else k for k in KINDS))
    if kind == "clean":
        if raw:
            raise AvssError(f"visual condition 'clean' takes no value, got '{spec}'")
        return VisualCondition("clean", 0.0, seed)
    try:
        value = float(raw)
    except ValueError:
        raise AvssError(f"visual condition '{spec}' needs a number after '{kind}:'") from None
    if not math.isfinite(value):
        raise AvssError(f"visual condition '{spec}' needs a finite number")
    if kind in ("zero", "freeze") and not 0 <= value <= 100:
        raise AvssError(f"visual condition '{spec}': the percentage must be in 0..100")
    if kind == "offset" and not value.is_integer():
        raise AvssError(f"visual condition '{spec}': the offset is a whole number of frames")
    if kind == "lowres" and not (value.is_integer() and value >= 1):
        raise AvssError(f"visual condition '{spec}': the resolution is a whole number of "
                        "pixels >= 1")
    if kind == "fps" and not 0 < value <= VIDEO_FPS:
        raise AvssError(f"visual condition '{spec}': the frame rate must be in (0, {VIDEO_FPS}]")
    return VisualCondition(kind, value, seed)


def _chosen_frames(count: int, percent: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask with round(percent % of count) frames set, drawn without replacement."""
    mask = np.zeros(count, bool)
    chosen = int(round(count * percent / 100.0))
    mask[rng.choice(count, size=chosen, replace=False)] = True
    return mask


def zero_frames(frames: np.ndarray, percent: float, rng: np.random.Generator) -> np.ndarray:
    """Black out `percent` % of the frames (face lost)."""
    out = frames.copy()
    out[_chosen_frames(len(frames), percent, rng)] = 0
    return out


def freeze_frames(frames: np.ndarray, percent: float, rng: np.random.Generator) -> np.ndarray:
    """Replace `percent` % of the frames by the last intact frame before each (occlusion)."""
    mask = _chosen_frames(len(frames), percent, rng)
    if not mask.any():
        return frames.copy()
    intact = np.flatnonzero(~mask)
    if intact.size == 0:  # every frame lost: hold the first one
        return np.repeat(frames[:1], len(frames), axis=0)
    source = np.where(~mask, np.arange(len(frames)), -1)
    source = np.maximum.accumulate(source)  # last intact index at or before each frame
    source[source < 0] = intact[0]
    return frames[source]


def offset_frames(frames: np.ndarray, offset: int) -> np.ndarray:
    """Shift the video by `offset` frames (> 0 delays it), repeating the edge frame."""
    index = np.clip(np.arange(len(frames)) - int(offset), 0, len(frames) - 1)
    return frames[index]


def lower_resolution(frames: np.ndarray, pixels: int) -> np.ndarray:
    """Area-downsample each frame to `pixels` x `pixels`, bilinearly upsample back, uint8."""
    if len(frames) == 0:
        return frames.copy()
    height, width = frames.shape[1:]
    tensor = torch.from_numpy(frames.astype(np.float32))[:, None]
    small = F.interpolate(tensor, size=(int(pixels), int(pixels)), mode="area")
    back = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    return back[:, 0].round().clamp(0, 255).numpy().astype(np.uint8)


def drop_frame_rate(frames: np.ndarray, fps: float) -> np.ndarray:
    """Sample the 25 fps video at `fps` and hold each sample until the next one."""
    step = VIDEO_FPS / float(fps)  # source frames per held sample (2 at 12.5 fps)
    held = np.floor(np.arange(len(frames)) / step + 1e-9)
    index = np.minimum(np.floor(held * step + 1e-9).astype(int), len(frames) - 1)
    return frames[index]


def apply_condition(frames: np.ndarray, condition: VisualCondition | None,
                    index: int = 0) -> np.ndarray:
    """The damaged copy of `frames` (uint8 [F, H, W]) for item `index`; same shape and dtype."""
    if condition is None or condition.kind == "clean":
        return frames
    rng = np.random.default_rng([condition.seed, index])
    if condition.kind == "zero":
        return zero_frames(frames, condition.value, rng)
    if condition.kind == "freeze":
        return freeze_frames(frames, condition.value, rng)
    if condition.kind == "offset":
        return offset_frames(frames, int(condition.value))
    if condition.kind == "lowres":
        return lower_resolution(frames, int(condition.value))
    if condition.kind == "fps":
        return drop_frame_rate(frames, condition.value)
    raise AvssError(f"unknown visual condition kind '{condition.kind}'")
