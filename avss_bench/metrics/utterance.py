"""Score one utterance: every target's metrics and improvements over the mixture.

``score_utterance`` is the single entry point the CLI, the split scorer and the evaluation
loop share. Failures never raise: a value that cannot be computed is NaN and the target gets a
``"<metric>_error"`` reason, so the caller can count it instead of averaging it away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from avss_bench.core.constants import DEFAULT_METRICS
from avss_bench.metrics.bss_eval import FILTER_LENGTH, ReferenceSet
from avss_bench.metrics.dnsmos import KEYS as DNSMOS_KEYS
from avss_bench.metrics.dnsmos import dnsmos
from avss_bench.metrics.perceptual import MetricError, estoi, pesq, stoi
from avss_bench.metrics.si_snr import EPS, best_permutation, si_snr, si_snr_matrix

METRICS = ("si_snr", "sdr", "pesq", "stoi", "estoi", "dnsmos")
#: metrics reported with an improvement over the mixture (``<metric>_i``)
IMPROVED = ("si_snr", "sdr")
#: metrics reported under several keys (DNSMOS: SIG, BAK, OVRL of the estimate; no reference)
EXPANDED = {"dnsmos": DNSMOS_KEYS}


def output_keys(metrics: Sequence[str]) -> list[str]:
    """The per-target value keys produced for ``metrics``, in a fixed order."""
    keys = []
    for name in METRICS:
        if name in metrics:
            keys.extend(EXPANDED.get(name, (name,)))
            if name in IMPROVED:
                keys.append(f"{name}_i")
    return keys


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Validate metric names; returns them in canonical order."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    return tuple(m for m in METRICS if m in metrics)


def _signal_problem(x: np.ndarray, what: str) -> str | None:
    if not np.all(np.isfinite(x)):
        return f"non-finite {what}"
    if not np.any(x):
        return f"silent {what}"
    return None


def _as_rows(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be [n, T] or [T] with T > 0, got shape {arr.shape}")
    return arr


def mixture_baseline(
    mixture: np.ndarray,
    references: np.ndarray,
    metrics: Sequence[str] = IMPROVED,
    refset: ReferenceSet | None = None,
    filter_length: int = FILTER_LENGTH,
) -> dict[str, list]:
    """Metrics of the unprocessed mixture against each reference (the improvement baselines).

    Returns:
        ``{metric: [value per reference], f"{metric}_error": [reason or None per reference]}``
        for each of ``metrics`` that has an improvement (SI-SNR, SDR).

    Shape:
        mixture ``[T]``, references ``[n, T]``.
    """
    refs = _as_rows(references, "references")
    mix = np.asarray(mixture, dtype=np.float64).reshape(-1)
    if mix.size != refs.shape[1]:
        raise ValueError(f"mixture has {mix.size} samples, references {refs.shape[1]}")
    n = refs.shape[0]
    mix_problem = _signal_problem(mix, "mixture")
    reasons = [mix_problem or _signal_problem(r, "reference") for r in refs]
    out: dict[str, list] = {}
    for name in (m for m in IMPROVED if m in metrics):
        if name == "si_snr":
            values = np.asarray(si_snr(mix[None, :], refs), dtype=np.float64).reshape(n)
        else:
            refset = refset or ReferenceSet(refs, filter_length)
            valid = [j for j in range(n) if reasons[j] is None]
            values = np.full(n, np.nan)
            values[valid] = refset.target_sdr(mix[None, :], [(0, j) for j in valid])
        values = [float("nan") if reasons[j] else float(values[j]) for j in range(n)]
        out[name] = values
        out[f"{name}_error"] = list(reasons)
    return out


def score_utterance(
    estimates: np.ndarray,
    references: np.ndarray,
    mixture: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str] = DEFAULT_METRICS,
    permute: bool = True,
    baseline: Mapping[str, Sequence] | None = None,
    trim: bool = False,
    filter_length: int = FILTER_LENGTH,
) -> dict[str, Any]:
    """Score the estimates of one mixture against its references.

    Args:
        estimates: separated signals (one for target-speaker extraction).
        references: clean sources; targets are reported in this order.
        mixture: the unprocessed mixture (for the improvements).
        sample_rate: Hz. PESQ is wide-band at 16 kHz, narrow-band at 8 kHz, NaN elsewhere.
        metrics: any of ``si_snr, sdr, pesq, stoi, estoi, dnsmos`` (DNSMOS is reference-free:
            ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl`` of the assigned estimate).
        permute: choose the estimate for each reference by maximal mean SI-SNR; else
            estimate j is the estimate of reference j.
        baseline: precomputed :func:`mixture_baseline` for these references (not recomputed).
        trim: cut every signal to the shortest; otherwise a length mismatch makes every value
            NaN with a "length mismatch" reason.
        filter_length: BSS-Eval distortion filter taps.

    Returns:
        ``{"sample_rate", "permutation": [estimate index for each reference], "targets":
        [{metric: float, "<metric>_i": float, "<metric>_error": reason}, ...]}``; failed
        values are NaN and have a reason. Improvements are metric(estimate) - metric(mixture).

    Shape:
        estimates ``[m, T]`` or ``[T]``, references ``[n, T]`` or ``[T]`` (m >= n),
        mixture ``[T]``.
    """
    metrics = check_metrics(metrics)
    ests = _as_rows(estimates, "estimates")
    refs = _as_rows(references, "references")
    mix = np.asarray(mixture, dtype=np.float64).reshape(-1)
    n, m = refs.shape[0], ests.shape[0]
    if m < n:
        raise ValueError(f"{m} estimate(s) for {n} reference(s)")
    keys = output_keys(metrics)
    lengths = {ests.shape[1], refs.shape[1], mix.size}
    if len(lengths) > 1:
        if not trim:
            reason = (
                f"length mismatch (estimates {ests.shape[1]}, references {refs.shape[1]}, "
                f"mixture {mix.size} samples)"
            )
            targets = [_failed(keys, reason) for _ in range(n)]
            return {"sample_rate": int(sample_rate), "permutation": list(range(n)),
                    "targets": targets}
        length = min(lengths)
        ests, refs, mix = ests[:, :length], refs[:, :length], mix[:length]
        baseline = None  # computed for the untrimmed signals

    ref_problem = [_signal_problem(r, "reference") for r in refs]
    est_problem = [_signal_problem(e, "estimate") for e in ests]
    if permute and m > 1:
        with np.errstate(invalid="ignore", over="ignore"):
            matrix = si_snr_matrix(ests, refs, eps=EPS)
        for i, problem in enumerate(est_problem):
            if problem:
                matrix[:, i] = np.nan
        perm = list(best_permutation(matrix))
    else:
        perm = list(range(n))

    reasons = [ref_problem[j] or est_problem[perm[j]] for j in range(n)]
    valid = [j for j in range(n) if reasons[j] is None]
    targets = [_failed(keys, reasons[j]) if reasons[j] else {} for j in range(n)]

    refset = ReferenceSet(refs, filter_length) if "sdr" in metrics else None
    if baseline is None and any(name in metrics for name in IMPROVED):
        baseline = mixture_baseline(mix, refs, metrics, refset, filter_length)

    if "si_snr" in metrics and valid:
        values = si_snr(ests[[perm[j] for j in valid]], refs[valid], eps=EPS)
        for j, v in zip(valid, np.atleast_1d(values), strict=True):
            targets[j]["si_snr"] = float(v)
    if "sdr" in metrics and valid:
        values = refset.target_sdr(ests, [(perm[j], j) for j in valid])
        for j, v in zip(valid, values, strict=True):
            targets[j]["sdr"] = float(v)
            if not np.isfinite(v):
                targets[j]["sdr_error"] = "BSS-Eval failed (singular projection)"
    perceptual = {"pesq": lambda r, e: pesq(r, e, sample_rate),
                  "stoi": lambda r, e: stoi(r, e, sample_rate),
                  "estoi": lambda r, e: estoi(r, e, sample_rate)}
    for name in (n_ for n_ in ("pesq", "stoi", "estoi") if n_ in metrics):
        for j in valid:
            try:
                targets[j][name] = perceptual[name](refs[j], ests[perm[j]])
            except MetricError as err:
                targets[j][name] = float("nan")
                targets[j][f"{name}_error"] = str(err)
    if "dnsmos" in metrics:
        for j in valid:
            try:
                targets[j].update(dnsmos(ests[perm[j]], sample_rate))
            except MetricError as err:
                for key in DNSMOS_KEYS:
                    targets[j][key] = float("nan")
                    targets[j][f"{key}_error"] = str(err)
    for name in (n_ for n_ in IMPROVED if n_ in metrics):
        for j in valid:
            base = float(baseline[name][j])
            base_error = baseline.get(f"{name}_error", [None] * n)[j]
            value = targets[j][name]
            targets[j][f"{name}_i"] = value - base
            if not np.isfinite(base) and not targets[j].get(f"{name}_error"):
                targets[j][f"{name}_i_error"] = f"mixture baseline: {base_error or 'failed'}"
    ordered = [_ordered(t, keys) for t in targets]
    return {"sample_rate": int(sample_rate), "permutation": [int(p) for p in perm],
            "targets": ordered}


def _failed(keys: Sequence[str], reason: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = float("nan")
        out[f"{key}_error"] = reason
    return out


def _ordered(target: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Values in ``keys`` order, then their error reasons (only those that failed)."""
    out: dict[str, Any] = {key: target.get(key, float("nan")) for key in keys}
    for key in keys:
        err = target.get(f"{key}_error")
        if err is None and key.endswith("_i"):
            err = target.get(f"{key[:-2]}_error")
        if err is not None:
            out[f"{key}_error"] = err
    return out
