"""PESQ (ITU-T P.862 via the ``pesq`` package) and STOI/ESTOI (``pystoi``), never silently wrong.

Both wrap the reference implementations, so values are identical to them. What the wrappers add:

* the argument order of every metric here, ``(estimate, reference, *, sample_rate)``, with the
  rate a keyword (a call in the reference libraries' ``(reference, estimate, rate)`` order is a
  TypeError, never a silently swapped score);
* PESQ mode follows the rate (wide-band at 16 kHz, narrow-band at 8 kHz) unless given;
* bad input raises :class:`MetricError` with a short reason instead of printing to stdout or
  returning a sentinel: silent reference ("no utterances detected"), silent estimate,
  non-finite samples, too short (PESQ needs 0.25 s), unsupported rate, length mismatch;
* ESTOI dithers with numpy's global RNG inside pystoi: it is seeded with 0 for every call and
  the caller's RNG state is restored, so scores are reproducible and side-effect free.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np


class MetricError(ValueError):
    """A metric cannot be computed for this input; ``str(err)`` is the short reason."""


PESQ_RATES = {16000: "wb", 8000: "nb"}


def _check_pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.ndim != 1 or est.ndim != 1:
        raise MetricError("expected 1-D signals")
    if ref.shape != est.shape:
        raise MetricError(f"length mismatch ({ref.size} vs {est.size} samples)")
    if not np.all(np.isfinite(est)):
        raise MetricError("non-finite estimate")
    if not np.all(np.isfinite(ref)):
        raise MetricError("non-finite reference")
    return ref, est


def pesq(
    estimate: np.ndarray, reference: np.ndarray, *, sample_rate: int, mode: str | None = None
) -> float:
    """PESQ MOS-LQO of ``estimate`` against ``reference``.

    Args:
        estimate: degraded/separated signal.
        reference: clean signal, same length.
        sample_rate: 16000 or 8000.
        mode: "wb" or "nb"; default wide-band at 16 kHz, narrow-band at 8 kHz.

    Raises:
        MetricError: with a short reason when PESQ is undefined for the input.

    Shape:
        estimate, reference ``[T]`` -> float.
    """
    import pesq as pesq_lib

    ref, est = _check_pair(estimate, reference)
    if sample_rate not in PESQ_RATES:
        raise MetricError(f"PESQ needs 8 or 16 kHz audio (got {sample_rate} Hz)")
    mode = mode or PESQ_RATES[sample_rate]
    if mode not in ("wb", "nb"):
        raise MetricError(f"PESQ mode must be 'wb' or 'nb' (got {mode!r})")
    if mode == "wb" and sample_rate != 16000:
        raise MetricError("no wide-band PESQ at 8 kHz")
    if ref.size < sample_rate // 4:
        raise MetricError("too short for PESQ (< 0.25 s)")
    if not np.any(ref):
        raise MetricError("no utterances detected (silent reference)")
    if not np.any(est):
        raise MetricError("silent estimate")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return float(pesq_lib.pesq(sample_rate, ref, est, mode))
    except pesq_lib.NoUtterancesError as err:
        raise MetricError("no utterances detected") from err
    except pesq_lib.BufferTooShortError as err:
        raise MetricError("too short for PESQ (< 0.25 s)") from err
    except (pesq_lib.PesqError, ValueError) as err:
        raise MetricError(f"PESQ failed: {err}") from err


def stoi(
    estimate: np.ndarray, reference: np.ndarray, *, sample_rate: int, extended: bool = False
) -> float:
    """STOI (or ESTOI with ``extended=True``) of ``estimate`` against ``reference`` (pystoi).

    pystoi resamples to 10 kHz internally. When fewer than 30 frames remain after removing
    silent frames pystoi returns 1e-5 with a warning, and for an all-zero reference or
    estimate it returns 0.0; both are reported as errors here.

    Raises:
        MetricError: with a short reason when STOI is undefined for the input.

    Shape:
        estimate, reference ``[T]`` -> float.
    """
    from pystoi import stoi as pystoi_stoi

    ref, est = _check_pair(estimate, reference)
    if sample_rate <= 0:
        raise MetricError(f"invalid sample rate {sample_rate}")
    # pystoi returns 0.0 (ESTOI: a random value) here; a number that is averaged in unnoticed.
    if not np.any(ref):
        raise MetricError("silent reference")
    if not np.any(est):
        raise MetricError("silent estimate")
    state = np.random.get_state()
    try:
        np.random.seed(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(pystoi_stoi(ref, est, sample_rate, extended=extended))
    except (ValueError, IndexError) as err:  # numpy's AxisError on signals of a few frames
        name = "ESTOI" if extended else "STOI"
        raise MetricError(f"too short for {name} ({ref.size} samples at {sample_rate} Hz; "
                          "needs 30 non-silent 25.6-ms frames)") from err
    finally:
        np.random.set_state(state)
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            name = "ESTOI" if extended else "STOI"
            raise MetricError(f"too short for {name} (< 30 non-silent frames)")
    return value


def estoi(estimate: np.ndarray, reference: np.ndarray, *, sample_rate: int) -> float:
    """ESTOI (extended STOI); see :func:`stoi`."""
    return stoi(estimate, reference, sample_rate=sample_rate, extended=True)
