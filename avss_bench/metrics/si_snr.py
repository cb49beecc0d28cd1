"""Scale-invariant SNR (SI-SNR) and the permutation that maximises it.

The definition is the asteroid/SpeechBrain one the field reports, computed in float64::

    s  <- s - mean(s);  ŝ <- ŝ - mean(ŝ)
    s_t = (<ŝ, s> / (||s||² + eps)) s;   e = ŝ - s_t
    SI-SNR = 10 log10(||s_t||² / (||e||² + eps) + eps)

With ``eps = 1e-8`` an all-zero reference gives exactly -80 dB (the eps floor), as in
``../shared/data/metrics`` (case c09).
"""

from __future__ import annotations

import itertools

import numpy as np

EPS = 1e-8


def si_snr(estimate: np.ndarray, reference: np.ndarray, eps: float = EPS) -> float | np.ndarray:
    """SI-SNR in dB of ``estimate`` against ``reference``, batched over leading dimensions.

    Args:
        estimate: the separated signal.
        reference: the clean target; broadcastable against ``estimate``.
        eps: the stabiliser in the definition above.

    Returns:
        A float for 1-D inputs, else an array of the broadcast leading shape.

    Shape:
        estimate, reference: ``[..., T]`` -> ``[...]``.
    """
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape[-1] != ref.shape[-1]:
        raise ValueError(
            f"estimate and reference lengths differ ({est.shape[-1]} vs {ref.shape[-1]})"
        )
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    dot = np.sum(est * ref, axis=-1, keepdims=True)
    ref_energy = np.sum(ref * ref, axis=-1, keepdims=True)
    target = dot / (ref_energy + eps) * ref
    noise = est - target
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 10.0 * np.log10(
            np.sum(target * target, axis=-1) / (np.sum(noise * noise, axis=-1) + eps) + eps
        )
    return float(value) if value.ndim == 0 else value


def si_snr_matrix(estimates: np.ndarray, references: np.ndarray, eps: float = EPS) -> np.ndarray:
    """SI-SNR of every (reference j, estimate i) pair: ``out[j, i] = si_snr(est_i, ref_j)``.

    Shape:
        estimates ``[m, T]``, references ``[n, T]`` -> ``[n, m]``.
    """
    est = np.asarray(estimates, dtype=np.float64)
    ref = np.asarray(references, dtype=np.float64)
    return np.asarray(si_snr(est[None, :, :], ref[:, None, :], eps=eps))


def best_permutation(score: np.ndarray) -> tuple[int, ...]:
    """The assignment ``perm[j]`` = estimate for reference j that maximises the mean score.

    ``score[j, i]`` is the score of estimate i against reference j. Ties go to the first
    permutation in ``itertools.permutations`` order (as mir_eval). NaN scores never win.

    Shape:
        score ``[n, m]`` with ``m >= n`` -> a tuple of n distinct estimate indices.
    """
    n, m = score.shape
    safe = np.where(np.isnan(score), -np.inf, score)
    rows = np.arange(n)
    best: tuple[int, ...] | None = None
    best_value = -np.inf
    for perm in itertools.permutations(range(m), n):
        value = safe[rows, list(perm)].mean()
        if best is None or value > best_value:
            best, best_value = perm, value
    assert best is not None
    return tuple(int(i) for i in best)
