"""Block Levinson recursion for quadratic forms ``d^T T^{-1} d`` with T block Toeplitz.

BSS-Eval's projections solve normal equations whose matrix is the (symmetric, positive
definite) block-Toeplitz Gram matrix of delayed references. The projection energy of an
estimate is the quadratic form ``d^T T^{-1} d``; the Whittle/Wiggins-Robinson recursion gives
it in O(L² n² (n + m)) operations instead of the O((nL)³) of a dense factorisation.

Derivation (T[l, k] = R(k - l), R(-t) = R(t)^T, blocks n x n, L blocks):
forward/backward predictors F_p, G_p (F_p[0] = I, G_p[p] = I) satisfy
``T_p F_p = [E^f; 0 ...]`` and ``T_p G_p = [... 0; E^b]``. With
``Δ = Σ_k R(p+1-k)^T F_p[k]``::

    F_{p+1} = [F_p; 0] - [0; G_p] (E^b)^{-1} Δ        E^f <- E^f - Δ^T (E^b)^{-1} Δ
    G_{p+1} = [0; G_p] - [F_p; 0] (E^f)^{-1} Δ^T      E^b <- E^b - Δ (E^f)^{-1} Δ^T

and the block LDL^T of T gives ``Q_p = Q_{p-1} + e_p^T (E^b_p)^{-1} e_p`` with
``e_p = Σ_k G_p[k]^T d[k]``.

numba (a dependency) compiles it.
"""

from __future__ import annotations

import numba
import numpy as np

_njit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})


def _spd_inverse_py(a: np.ndarray) -> np.ndarray:
    """Gauss-Jordan inverse of a small symmetric positive definite matrix (no pivoting)."""
    n = a.shape[0]
    work = a.copy()
    inv = np.eye(n)
    for c in range(n):
        piv = work[c, c]
        for k in range(n):
            work[c, k] /= piv
            inv[c, k] /= piv
        for r in range(n):
            if r != c:
                f = work[r, c]
                if f != 0.0:
                    for k in range(n):
                        work[r, k] -= f * work[c, k]
                        inv[r, k] -= f * inv[c, k]
    return inv


def _quadform_py(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Loop-level implementation (compiled by numba); see the module docstring.

    Lags are the innermost (contiguous) axis so the O(L²) loops vectorise. G_p[k] is stored
    at lag position ``k + L - 1 - p``, so the shift ``G_{p+1}[k] = G_p[k-1] + ...`` happens
    in place.

    Shape:
        r ``[n, n, L]`` (R(t)[a, b] at ``r[a, b, t]``), d ``[n, m, L]`` -> ``[m]``.
    """
    n, _, n_lag = r.shape
    m = d.shape[1]
    # r_rev[c, a, j] = R(L-1-j)[c, a]: R(p+1-k) = r_rev[..., L-2-p+k], increasing in k.
    r_rev = np.empty((n, n, n_lag))
    for a in range(n):
        for b in range(n):
            for t in range(n_lag):
                r_rev[a, b, t] = r[a, b, n_lag - 1 - t]
    fwd = np.zeros((n, n, n_lag))
    bwd = np.zeros((n, n, n_lag))
    for a in range(n):
        fwd[a, a, 0] = 1.0
        bwd[a, a, n_lag - 1] = 1.0
    ef = r[:, :, 0].copy()
    eb = r[:, :, 0].copy()
    out = np.zeros(m)
    e = np.zeros((n, m))
    delta = np.zeros((n, n))
    alpha = np.zeros((n, n))
    beta = np.zeros((n, n))
    ef_new = np.zeros((n, n))
    eb_new = np.zeros((n, n))
    f_row = np.zeros((n, n_lag))
    for p in range(n_lag):
        # e_p[a, c] = sum_k sum_b G_p[k][b, a] d[k][b, c]
        g0 = n_lag - 1 - p
        for a in range(n):
            for c in range(m):
                acc = 0.0
                for b in range(n):
                    for k in range(p + 1):
                        acc += bwd[b, a, g0 + k] * d[b, c, k]
                e[a, c] = acc
        eb_inv = _spd_inverse(eb)
        for c in range(m):
            acc = 0.0
            for a in range(n):
                s = 0.0
                for b in range(n):
                    s += eb_inv[a, b] * e[b, c]
                acc += e[a, c] * s
            out[c] += acc
        if p == n_lag - 1:
            break
        # delta[a, b] = sum_k sum_c R(p+1-k)[c, a] F_p[k][c, b]
        off = n_lag - 2 - p
        for a in range(n):
            for b in range(n):
                acc = 0.0
                for c in range(n):
                    for k in range(p + 1):
                        acc += r_rev[c, a, off + k] * fwd[c, b, k]
                delta[a, b] = acc
        ef_inv = _spd_inverse(ef)
        for a in range(n):
            for b in range(n):
                sa = 0.0
                sb = 0.0
                for c in range(n):
                    sa += eb_inv[a, c] * delta[c, b]
                    sb += ef_inv[a, c] * delta[b, c]
                alpha[a, b] = -sa
                beta[a, b] = -sb
        # F_{p+1}[k] = F_p[k] + G_p[k-1] alpha;  G_{p+1}[k] = G_p[k-1] + F_p[k] beta
        # (k = 0..p+1; F_p[p+1] = G_p[-1] = 0). Row a of each only mixes row a.
        for a in range(n):
            for c in range(n):
                for k in range(p + 1):
                    f_row[c, k] = fwd[a, c, k]
            for b in range(n):
                for c in range(n):
                    al = alpha[c, b]
                    for k in range(p + 2):
                        fwd[a, b, k] += bwd[a, c, off + k] * al
            for b in range(n):
                for c in range(n):
                    be = beta[c, b]
                    for k in range(p + 1):
                        bwd[a, b, off + k] += f_row[c, k] * be
        for a in range(n):
            for b in range(n):
                sf = 0.0
                sb = 0.0
                for c in range(n):
                    sf += delta[c, a] * alpha[c, b]
                    sb += delta[a, c] * beta[c, b]
                ef_new[a, b] = ef[a, b] + sf
                eb_new[a, b] = eb[a, b] + sb
        for a in range(n):
            for b in range(n):
                ef[a, b] = 0.5 * (ef_new[a, b] + ef_new[b, a])
                eb[a, b] = 0.5 * (eb_new[a, b] + eb_new[b, a])
    return out


_spd_inverse = _njit(_spd_inverse_py)
_quadform_compiled = _njit(_quadform_py)


def block_toeplitz_dense(r: np.ndarray) -> np.ndarray:
    """The dense matrix T[l, k] = R(k - l) (for checks).

    Shape:
        r ``[L, n, n]`` -> ``[L n, L n]`` ordered lag-major (index ``l * n + a``).
    """
    n_lag, n, _ = r.shape
    t = np.empty((n_lag, n, n_lag, n))
    for l_ in range(n_lag):
        for k in range(n_lag):
            t[l_, :, k, :] = r[k - l_] if k >= l_ else r[l_ - k].T
    return t.reshape(n_lag * n, n_lag * n)


def block_toeplitz_quadform(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``d_c^T T^{-1} d_c`` for every column c of d, T the block Toeplitz matrix of r.

    Args:
        r: R(0), ..., R(L-1); T[l, k] = R(k - l) and R(-t) = R(t)^T.
        d: the right-hand sides, lag-major like T.

    Shape:
        r ``[L, n, n]``, d ``[L, n, m]`` -> ``[m]``.
    """
    r_c = np.ascontiguousarray(np.moveaxis(r, 0, -1), dtype=np.float64)
    d_c = np.ascontiguousarray(np.moveaxis(d, 0, -1), dtype=np.float64)
    return _quadform_compiled(r_c, d_c)
