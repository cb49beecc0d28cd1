"""DNSMOS P.835 (SIG, BAK, OVRL): a reference-free estimate of how a listener rates a clip.

Computed by the ``speechmos`` package, whose wheel ships Microsoft's ONNX models (run with
``onnxruntime``; nothing is downloaded). DNSMOS judges how clean and natural a signal *sounds*:
SIG the speech itself, BAK the background, OVRL the overall impression, each on a 1-5 MOS
scale. It never sees the reference, so it cannot tell the right speaker from the wrong one: an
estimate that is cleanly the other talker scores as well as a correct one. Read it beside
SI-SNRi, never instead of it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from avss_bench.metrics.perceptual import MetricError

#: the per-target keys, in table order
KEYS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
RATE = 16000
_SOURCE_KEYS = {"dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos"}
_LOCK = threading.Lock()  # one ONNX session pair, shared
_MODEL = None


def dnsmos(signal: np.ndarray, *, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 of one signal: ``{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}``.

    A signal whose peak exceeds 1 is divided by its peak first (DNSMOS takes [-1, 1] audio, and
    our example wavs are written the same way); a clip shorter than 9.01 s is repeated to that
    length by ``speechmos``, as in the official DNSMOS script.

    Raises:
        MetricError: not 16 kHz, silent, non-finite, or the model failed (short reason).

    Shape:
        signal ``[T]``.
    """
    if sample_rate != RATE:
        raise MetricError(f"DNSMOS needs {RATE} Hz audio, got {sample_rate} Hz")
    x = np.asarray(signal, dtype=np.float64).reshape(-1)
    if x.size == 0 or not np.any(x):
        raise MetricError("silent signal")
    if not np.all(np.isfinite(x)):
        raise MetricError("non-finite signal")
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x = x / peak
    try:
        with _LOCK:
            scores = _scores(x)
    except MetricError:
        raise
    except Exception as err:  # onnxruntime raises its own types
        raise MetricError(f"DNSMOS failed: {err}") from err
    return dict(zip(KEYS, scores, strict=True))


def _model():
    """speechmos's DNSMOS model over the P.835 ONNX model in its wheel, built once.

    The session is ours so that it uses the process's thread budget (``OMP_NUM_THREADS``, as
    torch does; onnxruntime otherwise takes every core) and skips the P.808 model that
    SIG/BAK/OVRL do not use; the scoring and polynomial mapping are speechmos's.
    """
    global _MODEL
    if _MODEL is None:
        try:
            import onnxruntime as ort
            from speechmos import dnsmos as backend
        except ImportError as err:  # a broken install
            raise MetricError(f"speechmos/onnxruntime is not installed ({err})") from err
        options = ort.SessionOptions()
        threads = os.environ.get("OMP_NUM_THREADS", "")
        options.intra_op_num_threads = int(threads) if threads.isdigit() else 0
        options.inter_op_num_threads = 1
        path = Path(backend.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"
        model = backend.DNSMOS.__new__(backend.DNSMOS)  # __init__ would also load P.808
        model.primary_model_path = str(path)
        model.onnx_sess = ort.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
        _MODEL = model
    return _MODEL


def _scores(audio: np.ndarray) -> tuple[float, float, float]:
    """``speechmos.dnsmos.DNSMOS.__call__`` (non-personalised), step for step, except that a
    9.01 s window seen before is not run again.

    speechmos repeats a short clip by doubling until it reaches 9.01 s, then averages windows
    hopped by 1 s; in a repeated clip the window at ``s`` equals the one at ``s mod n`` (n the
    clip's length), so a 1 s clip needs one model run instead of seven. The values and their
    mean are the same numbers speechmos averages (tested against ``speechmos.dnsmos.run``).
    """
    from speechmos.dnsmos import INPUT_LENGTH

    model = _model()
    n = audio.size
    length = int(INPUT_LENGTH * RATE)
    while len(audio) < length:
        audio = np.append(audio, audio)
    repeated = len(audio) > n
    hops = int(np.floor(len(audio) / RATE) - INPUT_LENGTH) + 1
    cache: dict[tuple[int, int], tuple[float, float, float]] = {}
    values = []
    for idx in range(hops):
        begin, end = int(idx * RATE), int((idx + INPUT_LENGTH) * RATE)
        segment = audio[begin:end]
        if len(segment) < length:
            continue
        key = (begin % n if repeated else begin, len(segment))
        if key not in cache:
            features = np.array(segment).astype("float32")[np.newaxis, :]
            raw = model.onnx_sess.run(None, {"input_1": features})[0][0]
            cache[key] = model.get_polyfit_val(raw[0], raw[1], raw[2], False)
        values.append(cache[key])
    if not values:
        raise MetricError("too short for DNSMOS")
    sig, bak, ovr = (np.mean([v[i] for v in values]) for i in range(3))
    return float(sig), float(bak), float(ovr)
