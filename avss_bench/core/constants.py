"""Numbers every stage agrees on (the standard benchmarks' formats)."""

from __future__ import annotations

#: Audio rate of every corpus, mixture, model input and output (Hz).
SAMPLE_RATE = 16000
#: Video / lip-ROI frame rate (frames per second).
VIDEO_FPS = 25
#: Side of the square lip crop the models see (centre or random crop of the 96x96 ROI file).
LIP_CROP = 88
#: Grayscale normalisation of lip crops used by the official IIANet/CTCNet loaders.
LIP_MEAN, LIP_STD = 0.421, 0.165
#: torch CPU threads of `avss-bench demo`'s training, fixed: float sums depend on the count, and
#: the demo's results must not depend on the machine.
DEMO_THREADS = 2
