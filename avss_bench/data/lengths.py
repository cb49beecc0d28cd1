"""The one length rule between a mixture's audio and the lips that go with it.

A mixture of `n` samples at 16 kHz lasts `lip_frames(n) = round(n * 25 / 16000)` video frames
(halves round up; at least 1). Every consumer of a mixture (the datasets of train, evaluate
and robustness, the target-absent evaluation, the report's lip strips, `separate`'s windows)
gives each target exactly that many frames: the first `lip_frames(n)` frames of the lip file,
and, where the file holds fewer, its last frame repeated (`fit_frames`). A lip file belongs to
an utterance, not to a mixture: it covers the utterance's whole 2 s source, so when 'min'
mode cuts a mixture to a shorter partner the lips are cut with it here, at load time.

What a lip file may hold (`lip_length_problem`, run by the loader before training and on every
item it reads, and by `avss-bench validate` on every row, so the two always agree):

* it covers the audio it goes with: at least `lip_frames(min(n, S)) - 1` frames, `S` being the
  samples of the source it was cut for (`s<k>_source_samples` in the manifest; taken as `n`
  when the manifest does not say). The one-frame slack is a video that ends one frame before
  its audio; the missing frame is the repeated last one;
* when `S` is known, it matches its own source: `|F - lip_frames(S)| <= 1`.

A source shorter than its mixture (`S < n`, which 'min' mode never makes) keeps the frames of
its own audio, and its last frame is held over the rest of the mixture.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE, VIDEO_FPS

#: frames a lip file may lack or exceed its audio by (a video ending a frame early or late)
LIP_FRAME_SLACK = 1

Frames = TypeVar("Frames")  # np.ndarray or torch.Tensor, frames on axis -3


def lip_frames(num_samples: int, sample_rate: int = SAMPLE_RATE, fps: float = VIDEO_FPS) -> int:
    """Video frames covering `num_samples` of audio: round(n * 25 / 16000) at the default
    rates, halves up, at least 1."""
    return max(1, int(math.floor(num_samples * fps / sample_rate + 0.5)))


def optional_int(value: Any) -> int | None:
    """A manifest cell as an int: None when it is absent, empty, NaN or not a whole number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def audio_length_problem(samples: int, num_samples: int) -> str | None:
    """Why a wav of `samples` samples cannot be part of a `num_samples`-sample mixture, or None."""
    if samples != num_samples:
        return f"{samples} samples (manifest says {num_samples})"
    return None


def lip_length_problem(frames: int, num_samples: int,
                       source_samples: int | None = None) -> str | None:
    """Why `frames` lip frames cannot go with a `num_samples`-sample mixture, or None.

    Args:
        frames: frames in the lip file.
        num_samples: the mixture's length.
        source_samples: length of the source the lip file was cut for, if known.
    """
    covered = num_samples if source_samples is None else min(num_samples, source_samples)
    need = lip_frames(covered)
    if frames < need - LIP_FRAME_SLACK or frames < 1:
        return (f"{frames} lip frames but the audio needs {need} at 25 fps "
                f"({covered} samples; at most {LIP_FRAME_SLACK} frame fewer)")
    if source_samples is not None:
        own = lip_frames(source_samples)
        if abs(frames - own) > LIP_FRAME_SLACK:
            return (f"{frames} lip frames but its {source_samples}-sample source needs {own} "
                    f"at 25 fps (+-{LIP_FRAME_SLACK})")
    return None


def fit_frames(lips: Frames, frames: int) -> Frames:
    """Cut `lips [..., F, H, W]` (numpy or torch) to `frames` frames, or repeat its last frame
    up to it."""
    have = lips.shape[-3]
    if have >= frames:
        return lips[..., :frames, :, :]
    index = np.minimum(np.arange(frames), have - 1)
    return lips[..., index, :, :]


def lips_for(lips: Frames, num_samples: int) -> Frames:
    """The lip frames that go with `num_samples` of audio (`fit_frames` to `lip_frames`)."""
    return fit_frames(lips, lip_frames(num_samples))
