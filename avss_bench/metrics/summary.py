"""Summaries of a results table: mean, std, 95% bootstrap CI, n and n_failed per metric.

A failed value (NaN, or ±inf) is never averaged in and never silently dropped: the mean is
over the finite values, ``n`` counts them and ``n_failed`` counts the rest, with the reasons
(from ``<metric>_error`` columns) tallied in ``failures``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_ci(
    values: np.ndarray,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded, so reproducible).

    Shape:
        values ``[n]`` (finite) -> ``(low, high)``; NaN for an empty input.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // values.size)  # bound memory for large splits
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _error_column(rows: pd.DataFrame, metric: str) -> pd.Series | None:
    for name in (f"{metric}_error", f"{metric[:-2]}_error" if metric.endswith("_i") else None):
        if name and name in rows.columns:
            return rows[name]
    return None


def summarize(rows: pd.DataFrame, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per metric: ``mean, std, ci95 [low, high], n, n_failed, failures {reason: count}``.

    Args:
        rows: one row per (mixture, target); metric columns numeric (strings are coerced,
            "" -> NaN), optional ``<metric>_error`` reason columns.
        metrics: the columns to summarise, e.g. ``si_snr, si_snr_i, sdr, sdr_i, pesq, stoi``.

    Returns:
        ``mean`` over finite values, sample ``std`` (ddof=1), seeded percentile-bootstrap 95%
        CI of the mean, ``n`` finite values used, ``n_failed`` the others (NaN/inf).
    """
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        if metric not in rows.columns:
            raise KeyError(f"results have no column '{metric}'")
        values = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        good = values[finite]
        failures: dict[str, int] = {}
        errors = _error_column(rows, metric)
        for i in np.flatnonzero(~finite):
            reason = errors.iloc[i] if errors is not None else None
            if reason is None or (isinstance(reason, float) and np.isnan(reason)) or reason == "":
                reason = "non-finite value" if np.isinf(values[i]) else "not computed"
            failures[str(reason)] = failures.get(str(reason), 0) + 1
        low, high = bootstrap_ci(good)
        out[metric] = {
            "mean": float(good.mean()) if good.size else float("nan"),
            "std": float(good.std(ddof=1)) if good.size > 1 else float("nan"),
            "ci95": [low, high],
            "n": int(good.size),
            "n_failed": int((~finite).sum()),
            "failures": dict(sorted(failures.items())),
        }
    return out
