"""BSS-Eval v3 "sources" (SDR, SIR, SAR + permutation) as ``mir_eval.separation.bss_eval_sources``.

Same decomposition as mir_eval (projections onto the references delayed by 0..filter_length-1
taps, no mean removal), computed without building time-domain projections:

* the Gram matrix of delayed references is block Toeplitz (exactly: the signals are zero-padded),
  so its blocks are the reference auto/cross-correlations at lags 0..L-1 (FFT);
* the right-hand sides are the reference/estimate cross-correlations (FFT);
* the projection energies are quadratic forms ``d^T T^{-1} d`` (block Levinson, O(L²));
* the errors follow by Pythagoras: with P_j the projection on reference j's subspace and
  P the projection on all references, ``SDR = |P_j ŝ|² / (|ŝ|² - |P_j ŝ|²)``,
  ``SIR = |P_j ŝ|² / (|P ŝ|² - |P_j ŝ|²)`` and ``SAR = |P ŝ|² / (|ŝ|² - |P ŝ|²)``.

The reference correlations are computed once and reused for every estimate (and the mixture).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fft

from avss_bench.metrics._levinson import block_toeplitz_quadform

FILTER_LENGTH = 512


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [n_sources, n_samples], got shape {arr.shape}")
    return arr


class ReferenceSet:
    """Reference spectra and correlations, computed once and reused for many estimates.

    Correlations are only needed at lags 0..L-1, so they are computed blockwise: the signal
    ``a`` is cut into blocks of B samples, ``b`` into the windows of B + L - 1 samples starting
    at the same offsets, both transformed at M >= B + L - 1 points (no wrap-around), and
    ``sum_u a(u) b(u + t) = irfft(sum_blocks conj(A_k) B_k)[t]``. Only one short inverse
    transform per pair is needed, instead of a full-length one.

    Args:
        references: the clean sources.
        filter_length: taps of the distortion filter (512 as mir_eval).

    Shape:
        references ``[n, T]``.
    """

    def __init__(self, references: np.ndarray, filter_length: int = FILTER_LENGTH) -> None:
        self.references = _as_2d(references, "references")
        self.n, self.length = self.references.shape
        self.filter_length = flen = int(filter_length)
        self.hop = min(self.length, 15 * flen)
        self.n_fft = scipy.fft.next_fast_len(self.hop + flen - 1, real=True)
        self.n_blocks = -(-self.length // self.hop)
        self.spectra = self._blocks(self.references)  # the "a" role: [n, K, F]
        self._windows: np.ndarray | None = None  # the "b" role of the references
        self._corr: np.ndarray | None = None
        self._auto: dict[int, np.ndarray] = {}

    def _blocks(self, x: np.ndarray) -> np.ndarray:
        """Spectra of the non-overlapping blocks of B samples. Shape ``[..., K, F]``."""
        return self._spectra(x, self.hop)

    def _windows_of(self, x: np.ndarray) -> np.ndarray:
        """Spectra of the windows of B + L - 1 samples at the block starts. ``[..., K, F]``."""
        return self._spectra(x, self.hop + self.filter_length - 1)

    def _spectra(self, x: np.ndarray, width: int) -> np.ndarray:
        """rfft (M points) of the ``width``-sample segments of x starting every B samples."""
        frames = np.zeros(x.shape[:-1] + (self.n_blocks, self.n_fft))
        for k in range(self.n_blocks):
            segment = x[..., k * self.hop : k * self.hop + width]
            frames[..., k, : segment.shape[-1]] = segment
        return scipy.fft.rfft(frames, axis=-1, overwrite_x=True)

    def _lags(self, spec_a: np.ndarray, spec_b: np.ndarray) -> np.ndarray:
        """sum_u a(u) b(u + t) for t = 0..L-1 from block and window spectra (broadcast)."""
        product = (np.conj(spec_a) * spec_b).sum(axis=-2)
        return scipy.fft.irfft(product, n=self.n_fft, axis=-1)[..., : self.filter_length]

    def _reference_windows(self) -> np.ndarray:
        if self._windows is None:
            self._windows = self._windows_of(self.references)
        return self._windows

    def autocorrelation(self, j: int) -> np.ndarray:
        """R_jj(t) = sum_u s_j(u) s_j(u + t), t = 0..L-1 (cached)."""
        if self._corr is not None:
            return self._corr[:, j, j]
        if j not in self._auto:
            windows = self._windows_of(self.references[j])
            self._auto[j] = self._lags(self.spectra[j], windows)
        return self._auto[j]

    def correlation_blocks(self) -> np.ndarray:
        """R(t)[a, b] = sum_u s_b(u) s_a(u + t) for t = 0..L-1.

        Shape:
            ``[L, n, n]``.
        """
        if self._corr is None:
            windows = self._reference_windows()
            # lags[a, b, t] = sum_u s_b(u) s_a(u + t)
            lags = self._lags(self.spectra[None, :], windows[:, None])
            self._corr = np.ascontiguousarray(np.moveaxis(lags, -1, 0))
        return self._corr

    def estimate_spectra(self, estimates: np.ndarray) -> np.ndarray:
        """Window spectra of estimates (the "b" role). Shape ``[m, K, F]``."""
        est = _as_2d(estimates, "estimates")
        if est.shape[1] != self.length:
            raise ValueError(
                f"estimates have {est.shape[1]} samples, references {self.length}"
            )
        return self._windows_of(est)

    def cross(self, j: np.ndarray | int, est_spectra: np.ndarray) -> np.ndarray:
        """d_j(l) = sum_u s_j(u) ŝ(u + l), l = 0..L-1, broadcast over j and estimates."""
        return self._lags(self.spectra[j], est_spectra)

    def target_sdr(self, estimates: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
        """SDR of estimate i against reference j for each ``(i, j)`` in ``pairs``.

        BSS-Eval's SDR depends only on the target's own delayed copies (the other references
        play no part), so this equals the ``sdr`` of ``bss_eval_sources`` for that pairing.
        A silent reference or estimate gives NaN.

        Shape:
            estimates ``[m, T]``, pairs ``k`` of them -> ``[k]``.
        """
        est = _as_2d(estimates, "estimates")
        out = np.full(len(pairs), np.nan)
        if not pairs:
            return out
        est_idx = np.asarray([i for i, _ in pairs])
        ref_idx = np.asarray([j for _, j in pairs])
        spec = self.estimate_spectra(est)
        d = self.cross(ref_idx, spec[est_idx])
        energy = np.sum(est * est, axis=-1)
        for k, (i, j) in enumerate(pairs):
            r = self.autocorrelation(j)
            if r[0] <= 0.0 or energy[i] <= 0.0:
                continue
            proj = block_toeplitz_quadform(r[:, None, None], d[k][:, None, None])[0]
            out[k] = _db(proj, energy[i] - proj)
        return out


#: Energy ratios are differences of float64 energies (|ŝ|² - |Pŝ|²), resolved to about 1e-15:
#: beyond this many dB the value is rounding noise (mir_eval then returns 150..300 dB or inf),
#: so it is reported as this ceiling instead of inf/NaN.
DB_CEILING = 150.0


def _db(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray | float:
    """10 log10(num / den), capped at DB_CEILING where den is at the rounding level."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    floor = num * 10.0 ** (-DB_CEILING / 10.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(num / np.maximum(den, floor))
    return float(out) if out.ndim == 0 else out


def bss_eval_matrix(
    estimates: np.ndarray, refs: ReferenceSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SDR, SIR, SAR of every (estimate i, reference j) pair.

    Shape:
        estimates ``[m, T]`` -> three ``[m, n]`` arrays.
    """
    est = _as_2d(estimates, "estimates")
    m, n, flen = est.shape[0], refs.n, refs.filter_length
    spec = refs.estimate_spectra(est)
    # d[i, j, l] = sum_u s_j(u) ŝ_i(u + l)
    d = refs.cross(np.arange(n)[None, :], spec[:, None])
    energy = np.sum(est * est, axis=-1)
    corr = refs.correlation_blocks()
    # projections on each reference alone, all estimates at once
    proj_j = np.empty((m, n))
    for j in range(n):
        proj_j[:, j] = block_toeplitz_quadform(
            corr[:, j : j + 1, j : j + 1], d[:, j, :].T.reshape(flen, 1, m)
        )
    proj_all = block_toeplitz_quadform(corr, np.transpose(d, (2, 1, 0)))  # [m]
    sdr = _db(proj_j, energy[:, None] - proj_j)
    sir = _db(proj_j, proj_all[:, None] - proj_j)
    sar = _db(proj_all, energy - proj_all)
    return np.asarray(sdr), np.asarray(sir), np.broadcast_to(sar[:, None], (m, n)).copy()


def _check_not_silent(x: np.ndarray, what: str) -> None:
    if np.any(np.all(x == 0, axis=-1)):
        raise ValueError(f"{what}: at least one source is all zeros (BSS-Eval is undefined)")


def sdr(
    estimates: np.ndarray,
    references: np.ndarray,
    compute_permutation: bool = True,
    filter_length: int = FILTER_LENGTH,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BSS-Eval v3 sources: ``(sdr, sir, sar, perm)`` exactly as mir_eval's bss_eval_sources.

    Note the argument order: estimates first (mir_eval takes references first).

    Args:
        estimates: estimated sources.
        references: true sources, same shape.
        compute_permutation: choose the estimate for each reference by maximal mean SIR
            (mir_eval's criterion and tie order); else estimate j goes with reference j.
        filter_length: distortion-filter taps (512 in mir_eval).

    Returns:
        ``sdr[j], sir[j], sar[j]`` in dB for reference j and ``perm[j]``, the estimate
        assigned to reference j. Ratios beyond float64 resolution (a perfect estimate) are
        reported as ``DB_CEILING`` (150 dB) where mir_eval returns 150-300 dB of rounding noise
        or inf.

    Raises:
        ValueError: shapes differ, a signal is all zeros or not finite (as mir_eval), or it is
            shorter than the filter (where mir_eval returns a meaningless value).

    Shape:
        estimates, references ``[n, T]`` (or ``[T]``) -> four ``[n]`` arrays.
    """
    est = _as_2d(estimates, "estimates")
    ref = _as_2d(references, "references")
    if est.shape != ref.shape:
        raise ValueError(
            f"estimates {est.shape} and references {ref.shape} must have the same shape"
        )
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(ref))):
        raise ValueError("estimates and references must be finite")
    if ref.shape[1] < filter_length:
        raise ValueError(f"{ref.shape[1]} samples is shorter than the {filter_length}-tap "
                         "distortion filter (BSS-Eval is undefined)")
    _check_not_silent(ref, "references")
    _check_not_silent(est, "estimates")
    refs = ReferenceSet(ref, filter_length)
    sdr_m, sir_m, sar_m = bss_eval_matrix(est, refs)  # [est, ref]
    n = ref.shape[0]
    dum = np.arange(n)
    if compute_permutation:
        perms = list(itertools.permutations(range(n)))
        mean_sir = [np.mean(sir_m[list(p), dum]) for p in perms]
        popt = np.asarray(perms[int(np.argmax(mean_sir))])
    else:
        popt = dum
    return sdr_m[popt, dum], sir_m[popt, dum], sar_m[popt, dum], popt
