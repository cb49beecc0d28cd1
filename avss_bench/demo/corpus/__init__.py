"""The embedded demo corpus: talking faces with speech-like audio, generated from a seed.

`generate_demo_corpus(root, seed=0)` writes a small corpus in the LRS2-BBC on-disk layout
(`mvlrs_v1/main/<id>/<nnnnn>.mp4` + `.txt`, `train/val/test/pretrain.txt`) with no download:
the face is a real photograph shipped inside scikit-image (`face.py`), its jaw opens with the
speaker's audio envelope frame by frame, and the audio is a formant synthesiser with per-speaker
pitch, formants and syllable rhythm (`speech.py`). `avss-bench prepare lrs2 --root <root>`
reads it exactly like the real corpus.
"""

from __future__ import annotations

from avss_bench.core.constants import SAMPLE_RATE, VIDEO_FPS
from avss_bench.demo.corpus.generate import (
    STAMP_NAME,
    generate_demo_corpus,
    render_clip,
    speaker_plan,
)

__all__ = [
    "VIDEO_FPS",
    "SAMPLE_RATE",
    "STAMP_NAME",
    "generate_demo_corpus",
    "render_clip",
    "speaker_plan",
]
