"""Separation metrics: SI-SNR, SDR (BSS-Eval v3), PESQ, STOI/ESTOI, DNSMOS and utterance scoring.

Functional forms (float64, agree with the reference libraries on ``../shared/data/metrics``), all
with the estimate first and the reference second:

* :func:`si_snr` — asteroid/SpeechBrain SI-SNR, batched over leading dimensions;
* :func:`sdr` — ``(sdr, sir, sar, perm)`` exactly as ``mir_eval.separation.bss_eval_sources``
  (512-tap filter), computed with FFT correlations and a block-Levinson solve;
* :func:`pesq` (wide-band at 16 kHz, narrow-band at 8 kHz), :func:`stoi`, :func:`estoi` —
  wrappers of ``pesq``/``pystoi`` (``sample_rate=`` by keyword) that raise
  :class:`MetricError` with a short reason;
* :data:`metric_registry` — every metric's name, function, columns, unit, direction, minimum
  length and default set (``metrics.registry``; plugins through entry points);
* :func:`score_utterance` — every target of one mixture, with improvements and reasons;
* :func:`summarize` — mean, std, bootstrap CI, n and n_failed per metric.

A whole manifest split is scored by ``avss_bench.evaluate.scoring.score_split`` (the results
layer it shares with ``evaluate``).
"""

from __future__ import annotations

from typing import Any

from avss_bench.metrics.bss_eval import ReferenceSet, sdr
from avss_bench.metrics.perceptual import MetricError, estoi, pesq, stoi
from avss_bench.metrics.registry import Column, Metric, metric_registry
from avss_bench.metrics.si_snr import best_permutation, si_snr, si_snr_matrix
from avss_bench.metrics.utterance import mixture_baseline, score_utterance

__all__ = [
    "Column",
    "Metric",
    "MetricError",
    "ReferenceSet",
    "best_permutation",
    "estoi",
    "metric_registry",
    "mixture_baseline",
    "pesq",
    "score_utterance",
    "sdr",
    "si_snr",
    "si_snr_matrix",
    "stoi",
    "summarize",
]


def __getattr__(name: str) -> Any:
    # pandas is imported only by the summary
    if name == "summarize":
        from avss_bench.metrics.summary import summarize

        return summarize
    raise AttributeError(f"module 'avss_bench.metrics' has no attribute {name!r}")
