"""Score one utterance: every target's metrics and improvements over the mixture.

``score_utterance`` is the single entry point the CLI, the split scorer and the evaluation
loop share. It names no metric: what each one needs (a reference, the mixture, a rate, a
minimum length), how it is called (one pair at a time, or batched over the references of the
mixture) and which columns it writes come from the registry (``metrics.registry``), so a
plugin metric is scored exactly like a bundled one. Failures never raise: a value that cannot be
computed is NaN and the target gets a ``"<column>_error"`` reason, so the caller can count it
instead of averaging it away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from avss_bench.metrics.perceptual import MetricError
from avss_bench.metrics.registry import Metric, metric_registry
from avss_bench.metrics.si_snr import EPS, best_permutation, si_snr_matrix


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


class _Prepared:
    """The batched forms of one mixture's metrics, each with the references prepared once
    (shared by the estimates and the mixture baseline)."""

    def __init__(self, references: np.ndarray, sample_rate: int) -> None:
        self.references = references
        self.sample_rate = sample_rate
        self._forms: dict[str, Callable[..., Any]] = {}

    def form(self, metric: Metric) -> Callable[..., Any]:
        if metric.name not in self._forms:
            self._forms[metric.name] = metric.batch(self.references,
                                                    sample_rate=self.sample_rate)
        return self._forms[metric.name]


def _one(metric: Metric, estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray,
         sample_rate: int) -> dict[str, float] | str:
    try:
        return metric.score(estimate, reference, sample_rate=sample_rate, mixture=mixture)
    except MetricError as err:
        return str(err)


def _compute(metric: Metric, estimates: np.ndarray, mixture: np.ndarray,
             pairs: Sequence[tuple[int, int]], prepared: _Prepared
             ) -> list[dict[str, float] | str]:
    """``metric`` of estimate i against reference j for each ``(i, j)``: values or a reason."""
    refs, rate = prepared.references, prepared.sample_rate
    reason = metric.unfit(refs.shape[1], rate)
    if reason:
        return [reason] * len(pairs)
    if metric.batch is None or not pairs:
        return [_one(metric, estimates[i], refs[j], mixture, rate) for i, j in pairs]
    key = metric.value_keys[0]
    values = prepared.form(metric)(estimates, list(pairs))
    return [{key: float(v)} if np.isfinite(v) else _one(metric, estimates[i], refs[j], mixture,
                                                        rate)
            for (i, j), v in zip(pairs, values, strict=True)]


def mixture_baseline(
    mixture: np.ndarray,
    references: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str] | None = None,
    prepared: _Prepared | None = None,
) -> dict[str, list]:
    """Metrics of the unprocessed mixture against each reference (the improvement baselines).

    Returns:
        ``{metric: [value per reference], f"{metric}_error": [reason or None per reference]}``
        for each of ``metrics`` (default: the default set) that reports an improvement.

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
    valid = [j for j in range(n) if reasons[j] is None]
    prepared = prepared or _Prepared(refs, sample_rate)
    out: dict[str, list] = {}
    for metric in metric_registry.chosen(metrics):
        if not metric.improvement:
            continue
        values, errors = [float("nan")] * n, list(reasons)
        results = _compute(metric, mix[None, :], mix, [(0, j) for j in valid], prepared)
        for j, result in zip(valid, results, strict=True):
            if isinstance(result, str):
                errors[j] = result
            else:
                values[j] = result[metric.name]
        out[metric.name] = values
        out[f"{metric.name}_error"] = errors
    return out


def score_utterance(
    estimates: np.ndarray,
    references: np.ndarray,
    mixture: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str] | None = None,
    permute: bool = True,
    baseline: Mapping[str, Sequence] | None = None,
    trim: bool = False,
) -> dict[str, Any]:
    """Score the estimates of one mixture against its references.

    Args:
        estimates: separated signals (one for target-speaker extraction).
        references: clean sources; targets are reported in this order.
        mixture: the unprocessed mixture (for the improvements).
        sample_rate: Hz. A metric defined at other rates (PESQ: 8 or 16 kHz) is NaN + reason.
        metrics: names in the metric registry (default: its default set), e.g. ``si_snr, sdr,
            pesq, stoi, estoi, dnsmos`` (DNSMOS is reference-free: ``dnsmos_sig``,
            ``dnsmos_bak``, ``dnsmos_ovrl`` of the assigned estimate).
        permute: choose the estimate for each reference by maximal mean SI-SNR; else
            estimate j is the estimate of reference j.
        baseline: precomputed :func:`mixture_baseline` for these references (not recomputed).
        trim: cut every signal to the shortest; otherwise a length mismatch makes every value
            NaN with a "length mismatch" reason.

    Returns:
        ``{"sample_rate", "permutation": [estimate index for each reference], "targets":
        [{column: float, "<column>_error": reason}, ...]}``; failed values are NaN and have a
        reason (a signal shorter than a metric's minimum included). Improvements are
        metric(estimate) - metric(mixture).

    Shape:
        estimates ``[m, T]`` or ``[T]``, references ``[n, T]`` or ``[T]`` (m >= n),
        mixture ``[T]``.
    """
    chosen = metric_registry.chosen(metrics)
    ests = _as_rows(estimates, "estimates")
    refs = _as_rows(references, "references")
    mix = np.asarray(mixture, dtype=np.float64).reshape(-1)
    n, m = refs.shape[0], ests.shape[0]
    if m < n:
        raise ValueError(f"{m} estimate(s) for {n} reference(s)")
    keys = [key for metric in chosen for key in metric.keys]
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

    prepared = _Prepared(refs, int(sample_rate))
    improved = [metric.name for metric in chosen if metric.improvement]
    if baseline is None and improved:
        baseline = mixture_baseline(mix, refs, sample_rate, improved, prepared)
    pairs = [(perm[j], j) for j in valid]
    for metric in chosen:
        for j, result in zip(valid, _compute(metric, ests, mix, pairs, prepared), strict=True):
            if isinstance(result, str):
                for key in metric.value_keys:
                    targets[j][key] = float("nan")
                    targets[j][f"{key}_error"] = result
            else:
                targets[j].update(result)
        if metric.improvement:
            _improve(metric.name, targets, valid, baseline, n)
    ordered = [_ordered(t, keys) for t in targets]
    return {"sample_rate": int(sample_rate), "permutation": [int(p) for p in perm],
            "targets": ordered}


def _improve(name: str, targets: list[dict[str, Any]], valid: list[int],
             baseline: Mapping[str, Sequence], n: int) -> None:
    """``<name>_i`` = value - the mixture's, with the baseline's reason when it failed."""
    for j in valid:
        base = float(baseline[name][j])
        base_error = baseline.get(f"{name}_error", [None] * n)[j]
        targets[j][f"{name}_i"] = targets[j][name] - base
        if not np.isfinite(base) and not targets[j].get(f"{name}_error"):
            targets[j][f"{name}_i_error"] = f"mixture baseline: {base_error or 'failed'}"


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
