"""Separation metrics: SI-SNR, SDR (BSS-Eval v3), PESQ, STOI/ESTOI and utterance scoring.

Functional forms (float64, agree with the reference libraries on ``../shared/data/metrics``):

* :func:`si_snr` — asteroid/SpeechBrain SI-SNR, batched over leading dimensions;
* :func:`sdr` — ``(sdr, sir, sar, perm)`` exactly as ``mir_eval.separation.bss_eval_sources``
  (512-tap filter), computed with FFT correlations and a block-Levinson solve;
* :func:`pesq` (wide-band at 16 kHz, narrow-band at 8 kHz), :func:`stoi`, :func:`estoi` —
  wrappers of ``pesq``/``pystoi`` that raise :class:`MetricError` with a short reason;
* :func:`score_utterance` — every target of one mixture, with improvements and reasons;
* :func:`summarize` — mean, std, bootstrap CI, n and n_failed per metric;
* :func:`score_split` — a whole manifest split, resumable, baselines cached.
"""

from __future__ import annotations

from typing import Any

from avss_bench.metrics.bss_eval import ReferenceSet, sdr
from avss_bench.metrics.perceptual import MetricError, estoi, pesq, stoi
from avss_bench.metrics.si_snr import best_permutation, si_snr, si_snr_matrix
from avss_bench.metrics.utterance import (
    DEFAULT_METRICS,
    METRICS,
    mixture_baseline,
    score_utterance,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricError",
    "ReferenceSet",
    "best_permutation",
    "estoi",
    "mixture_baseline",
    "pesq",
    "score_split",
    "score_utterance",
    "sdr",
    "si_snr",
    "si_snr_matrix",
    "stoi",
    "summarize",
]


def __getattr__(name: str) -> Any:
    # pandas/joblib are imported only by the split scorer and the summary
    if name == "summarize":
        from avss_bench.metrics.summary import summarize

        return summarize
    if name == "score_split":
        from avss_bench.metrics.split import score_split

        return score_split
    raise AttributeError(f"module 'avss_bench.metrics' has no attribute {name!r}")
