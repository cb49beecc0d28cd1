"""Metrics against the reference cases in ../shared/data/metrics (mir_eval, pesq, pystoi).

Tolerances are the issue's: SI-SNR/SDR 1e-3 dB, identical permutations, PESQ 1e-4,
STOI/ESTOI 1e-4 (we wrap pystoi, no reimplementation).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from shared_data import SHARED

from avss_bench.metrics import (
    MetricError,
    estoi,
    pesq,
    score_utterance,
    sdr,
    si_snr,
    si_snr_matrix,
    stoi,
)
from avss_bench.metrics._levinson import block_toeplitz_dense, block_toeplitz_quadform
from avss_bench.metrics.bss_eval import ReferenceSet
from avss_bench.metrics.registry import metric_registry

METRICS_DIR = SHARED / "data" / "metrics"
CASES = sorted(p.name for p in METRICS_DIR.glob("c*") if p.is_dir())
DB_TOL = 1e-3
PESQ_TOL = 1e-4
STOI_TOL = 1e-4



def _num(x):
    if x is None:
        return None
    return float(x)  # also parses "nan"/"inf"/"-inf"


class Case:
    def __init__(self, name: str) -> None:
        folder = METRICS_DIR / name
        self.name = name
        self.expected = json.loads((folder / "expected.json").read_text())
        self.m = self.expected["metrics"]

        def read(file: str) -> np.ndarray:
            x, sr = sf.read(folder / file, dtype="float64")
            self.sr = sr
            return x

        self.refs = np.stack([read("s1.wav"), read("s2.wav")])
        self.ests = np.stack([read("est1.wav"), read("est2.wav")])
        self.mix = read("mixture.wav")


_CACHE: dict[str, Case] = {}


def case(name: str) -> Case:
    if name not in _CACHE:
        _CACHE[name] = Case(name)
    return _CACHE[name]


def test_all_twelve_cases_present() -> None:
    assert len(CASES) == 12


@pytest.mark.parametrize("name", CASES)
def test_si_snr_matrix_pit_and_mixture(name: str) -> None:
    c = case(name)
    exp = c.m["si_snr"]
    np.testing.assert_allclose(
        si_snr_matrix(c.ests, c.refs), np.array(exp["matrix_db"], float), atol=DB_TOL, rtol=0
    )
    for j in range(2):
        assert si_snr(c.mix, c.refs[j]) == pytest.approx(_num(exp["mixture_db"][j]), abs=DB_TOL)
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("si_snr",))
    assert out["permutation"] == exp["pit_perm"]
    for j, target in enumerate(out["targets"]):
        if name.startswith("c09") and j == 1:
            continue  # silent reference: NaN with a reason (see test_silent_reference_case)
        assert target["si_snr"] == pytest.approx(_num(exp["pit_db"][j]), abs=DB_TOL)
        assert target["si_snr_i"] == pytest.approx(_num(exp["improvement_db"][j]), abs=DB_TOL)


def test_si_snr_batched_shapes() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 4, 1000))
    est = ref + 0.1 * rng.standard_normal((3, 4, 1000))
    batched = si_snr(est, ref)
    assert batched.shape == (3, 4)
    assert batched[1, 2] == pytest.approx(si_snr(est[1, 2], ref[1, 2]), abs=1e-12)
    assert isinstance(si_snr(est[0, 0], ref[0, 0]), float)


@pytest.mark.parametrize("name", CASES)
def test_sdr_matches_mir_eval(name: str) -> None:
    c = case(name)
    exp = c.m["bss_eval_sources"].get("mir_eval")
    if exp is None:  # c09: mir_eval refuses an all-zero reference, so do we
        with pytest.raises(ValueError, match="all zeros"):
            sdr(c.ests, c.refs)
        return
    values = sdr(c.ests, c.refs, compute_permutation=True)
    for got, key in zip(values[:3], ("sdr_db", "sir_db", "sar_db"), strict=True):
        np.testing.assert_allclose(got, np.array(exp[key], float), atol=DB_TOL, rtol=0)
    assert list(values[3]) == exp["perm"]
    file_order = sdr(c.ests, c.refs, compute_permutation=False)
    for got, key in zip(file_order[:3], ("sdr_db", "sir_db", "sar_db"), strict=True):
        np.testing.assert_allclose(got, np.array(exp["file_order"][key], float), atol=DB_TOL)
    assert list(file_order[3]) == [0, 1]
    mixture = sdr(np.stack([c.mix, c.mix]), c.refs, compute_permutation=False)
    np.testing.assert_allclose(mixture[0], np.array(exp["mixture"]["sdr_db"], float), atol=DB_TOL)
    np.testing.assert_allclose(mixture[1], np.array(exp["mixture"]["sir_db"], float), atol=DB_TOL)
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("sdr",))
    assert out["permutation"] == exp["perm"]
    for j, target in enumerate(out["targets"]):
        assert target["sdr"] == pytest.approx(exp["sdr_db"][j], abs=DB_TOL)
        assert target["sdr_i"] == pytest.approx(exp["sdri_db"][j], abs=DB_TOL)


@pytest.mark.parametrize("name", CASES)
def test_pesq_stoi_estoi(name: str) -> None:
    c = case(name)
    perm = c.m["si_snr"]["pit_perm"]
    p, s = c.m["pesq"], c.m["stoi"]
    mode_key = "wb" if c.sr == 16000 else "nb"
    for j in range(2):
        ref, est = c.refs[j], c.ests[perm[j]]
        for mode in ("wb", "nb"):
            for key, sig in ((mode, est), (f"mixture_{mode}", c.mix)):
                want = _num(p[key][j]) if p.get(key) is not None else None
                if want is None:
                    with pytest.raises(MetricError):
                        pesq(sig, ref, sample_rate=c.sr, mode=mode)
                else:
                    got = pesq(sig, ref, sample_rate=c.sr, mode=mode)
                    assert got == pytest.approx(want, abs=PESQ_TOL)
        if p[mode_key] is not None and p[mode_key][j] is not None:
            assert pesq(est, ref, sample_rate=c.sr) == pytest.approx(p[mode_key][j], abs=PESQ_TOL)
        if not np.any(ref):
            continue  # pystoi's 0.0 / random ESTOI for silence is reported as an error
        for fn, key in ((stoi, "stoi"), (estoi, "estoi")):
            assert fn(est, ref, sample_rate=c.sr) == pytest.approx(s[key][j], abs=STOI_TOL)
            assert fn(c.mix, ref, sample_rate=c.sr) == pytest.approx(s[f"mixture_{key}"][j],
                                                                     abs=STOI_TOL)


def test_score_utterance_full_case_c01() -> None:
    c = case("c01_arctic_0db_good")
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("si_snr", "sdr", "pesq",
                                                                 "stoi", "estoi"))
    assert out["sample_rate"] == 16000 and out["permutation"] == [0, 1]
    summary = json.loads((METRICS_DIR / "cases.json").read_text())["cases"][0]["summary"]
    for j, t in enumerate(out["targets"]):
        assert t["pesq"] == pytest.approx(summary["pesq_wb"][j], abs=PESQ_TOL)
        assert t["stoi"] == pytest.approx(summary["stoi"][j], abs=STOI_TOL)
        assert t["estoi"] == pytest.approx(summary["estoi"][j], abs=STOI_TOL)
        assert t["sdr_i"] == pytest.approx(summary["mir_eval_sdri_db"][j], abs=DB_TOL)
        assert not any(k.endswith("_error") for k in t)


def test_swapped_estimates_are_permuted() -> None:
    c = case("c04_swapped_order")
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("si_snr", "sdr", "pesq"))
    assert out["permutation"] == [1, 0]
    fixed = score_utterance(c.ests[::-1], c.refs, c.mix, c.sr, metrics=("si_snr", "sdr", "pesq"),
                            permute=False)
    for a, b in zip(out["targets"], fixed["targets"], strict=True):
        assert a == b


def test_silent_reference_case() -> None:
    c = case("c09_silent_reference")
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("si_snr", "sdr", "pesq", "stoi"))
    good, silent = out["targets"]
    assert good["si_snr"] == pytest.approx(c.m["si_snr"]["pit_db"][0], abs=DB_TOL)
    assert good["pesq"] == pytest.approx(c.m["pesq"]["wb"][0], abs=PESQ_TOL)
    # SDR of the non-silent target needs only its own reference: equals single-source BSS-Eval
    single = sdr(c.ests[0], c.refs[0])[0][0]
    assert good["sdr"] == pytest.approx(single, abs=1e-9)
    for key in ("si_snr", "si_snr_i", "sdr", "sdr_i", "pesq", "stoi"):
        assert math.isnan(silent[key])
        assert silent[f"{key}_error"] == "silent reference"
    # the functional SI-SNR keeps the definition's eps floor
    assert si_snr(c.ests[1], c.refs[1]) == pytest.approx(-80.0, abs=1e-9)


def test_gain_invariance_c05_vs_c01() -> None:
    a, b = case("c01_arctic_0db_good"), case("c05_gain_invariance_float")
    ra = score_utterance(a.ests, a.refs, a.mix, a.sr, metrics=("si_snr", "sdr"))
    rb = score_utterance(b.ests, b.refs, b.mix, b.sr, metrics=("si_snr", "sdr"))
    for ta, tb in zip(ra["targets"], rb["targets"], strict=True):
        assert ta["si_snr"] == pytest.approx(tb["si_snr"], abs=1e-4)
        assert ta["sdr"] == pytest.approx(tb["sdr"], abs=1e-6)


def test_bad_inputs_give_nan_with_reason() -> None:
    c = case("c11_short_2s_musical_noise")
    sr = c.sr
    ests = c.ests.copy()
    ests[1, 100] = np.nan
    out = score_utterance(ests, c.refs, c.mix, sr, metrics=("si_snr", "sdr", "pesq", "stoi"),
                          permute=False)
    assert np.isfinite(out["targets"][0]["pesq"])
    assert math.isnan(out["targets"][1]["pesq"])
    assert out["targets"][1]["pesq_error"] == "non-finite estimate"
    silent = np.zeros_like(c.ests)
    out = score_utterance(silent, c.refs, c.mix, sr, metrics=("sdr", "pesq"), permute=False)
    assert all(t["sdr_error"] == "silent estimate" for t in out["targets"])
    short = slice(sr, sr + int(0.2 * sr))
    out = score_utterance(c.ests[:, short], c.refs[:, short], c.mix[short], sr,
                          metrics=("pesq", "stoi"))
    assert out["targets"][0]["pesq_error"].startswith("too short")
    assert out["targets"][0]["stoi_error"].startswith("too short")
    out = score_utterance(c.ests, c.refs, c.mix, 22050, metrics=("pesq",))
    assert out["targets"][0]["pesq_error"] == ("PESQ needs 8000 or 16000 Hz audio "
                                               "(got 22050 Hz)")
    out = score_utterance(c.ests[:, :-10], c.refs, c.mix, sr, metrics=("si_snr", "pesq"))
    assert all(t["si_snr_error"].startswith("length mismatch") for t in out["targets"])
    trimmed = score_utterance(c.ests[:, :-10], c.refs, c.mix, sr, metrics=("si_snr",), trim=True)
    assert np.isfinite(trimmed["targets"][0]["si_snr"])
    with pytest.raises(MetricError, match="no wide-band"):
        pesq(c.ests[0][::2], c.refs[0][::2], sample_rate=8000, mode="wb")


def test_target_speaker_extraction_one_estimate() -> None:
    c = case("c01_arctic_0db_good")
    out = score_utterance(c.ests[1], c.refs[1], c.mix, c.sr, metrics=("si_snr", "sdr"))
    assert out["permutation"] == [0]
    assert out["targets"][0]["si_snr"] == pytest.approx(c.m["si_snr"]["pit_db"][1], abs=DB_TOL)
    want = c.m["bss_eval_sources"]["mir_eval"]["sdr_db"][1]
    assert out["targets"][0]["sdr"] == pytest.approx(want, abs=DB_TOL)


def test_precomputed_baseline_is_used() -> None:
    c = case("c02_arctic_p5db_mask")
    baseline = {"si_snr": [1.0, 2.0], "sdr": [3.0, 4.0]}
    out = score_utterance(c.ests, c.refs, c.mix, c.sr, metrics=("si_snr", "sdr"),
                          baseline=baseline)
    t = out["targets"][1]
    assert t["si_snr_i"] == pytest.approx(t["si_snr"] - 2.0)
    assert t["sdr_i"] == pytest.approx(t["sdr"] - 4.0)


@pytest.mark.parametrize("n,m", [(1, 2), (2, 3), (3, 1)])
def test_block_levinson_matches_dense_solve(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 10 + m)
    sig = np.cumsum(rng.standard_normal((n, 3000)), axis=1) + rng.standard_normal((n, 3000))
    flen = 24
    refs = ReferenceSet(sig, flen)
    corr = refs.correlation_blocks()
    d = rng.standard_normal((flen, n, m))
    dense = block_toeplitz_dense(corr)
    # the dense matrix is the Gram matrix of delayed references
    delayed = np.zeros((flen, n, 3000 + flen))
    for k in range(flen):
        delayed[k, :, k : k + 3000] = sig
    gram = np.einsum("kat,lbt->kalb", delayed, delayed).reshape(flen * n, flen * n)
    np.testing.assert_allclose(dense, gram, rtol=1e-9, atol=1e-9 * np.abs(gram).max())
    flat = d.reshape(flen * n, m)
    want = np.sum(flat * np.linalg.solve(dense, flat), axis=0)
    np.testing.assert_allclose(block_toeplitz_quadform(corr, d), want, rtol=1e-9)


def test_three_sources_against_mir_eval() -> None:
    mir_eval = pytest.importorskip("mir_eval")
    rng = np.random.default_rng(3)
    refs = rng.standard_normal((3, 4000))
    mixing = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    ests = mixing @ refs + 0.05 * rng.standard_normal((3, 4000))
    ests = ests[[2, 0, 1]]
    with pytest.warns(FutureWarning):
        want = mir_eval.separation.bss_eval_sources(refs, ests)
    got = sdr(ests, refs)
    for a, b in zip(got[:3], want[:3], strict=True):
        np.testing.assert_allclose(a, b, atol=DB_TOL, rtol=0)
    assert list(got[3]) == list(want[3])


def test_bss_eval_gotchas_reproduced() -> None:
    """Measured mir_eval behaviours from gotchas.json (padding, truncation, DC offset)."""
    gotchas = json.loads((METRICS_DIR / "gotchas.json").read_text())["bss_eval"]
    c = case("c01_arctic_0db_good")
    base = sdr(c.ests, c.refs)[0]
    np.testing.assert_allclose(base, gotchas["c01_mir_eval_sdr"], atol=DB_TOL)
    zeros = np.zeros((2, 16000))
    padded = sdr(np.hstack([c.ests, zeros]), np.hstack([c.refs, zeros]))[0]
    np.testing.assert_allclose(padded - base, gotchas["zero_pad_both_1s_sdr_minus_base"],
                               atol=DB_TOL)
    last = sdr(c.ests[:, :-4000], c.refs[:, :-4000])[0]
    np.testing.assert_allclose(last - base, gotchas["truncate_both_last_0.25s_sdr_minus_base"],
                               atol=DB_TOL)
    first = sdr(c.ests[:, 4000:], c.refs[:, 4000:])[0]
    np.testing.assert_allclose(first - base, gotchas["truncate_both_first_0.25s_sdr_minus_base"],
                               atol=DB_TOL)
    dc = sdr(c.ests + 0.01, c.refs)[0]
    np.testing.assert_allclose(dc - base, gotchas["c01_dc_0.01_added_to_est_sdr_delta"],
                               atol=DB_TOL)
    c6 = case("c06_dc_offset")
    np.testing.assert_allclose(sdr(c6.ests, c6.refs)[0], gotchas["c06_dc_sdr_raw"], atol=DB_TOL)
    centred = sdr(c6.ests - c6.ests.mean(1, keepdims=True),
                  c6.refs - c6.refs.mean(1, keepdims=True))
    np.testing.assert_allclose(centred[0], gotchas["c06_dc_sdr_after_mean_removal"], atol=DB_TOL)
    np.testing.assert_allclose(si_snr(c6.ests, c6.refs), gotchas["c06_sisnr_zero_mean"],
                               atol=DB_TOL)


def test_perfect_estimate_is_capped_not_inf() -> None:
    c = case("c11_short_2s_musical_noise")
    values = sdr(c.refs.copy(), c.refs)
    assert np.all(np.isfinite(values[0])) and np.all(values[0] >= 140.0)


@pytest.mark.parametrize("length", [1, 100, 511, 512])
def test_too_short_signals_are_nan_with_a_reason_never_a_clamp(length: int) -> None:
    """SI-SNR and SDR below the 512-tap filter, PESQ below 0.25 s, STOI/ESTOI below pystoi's
    30 frames, DNSMOS below 1 s: NaN and why (1 sample used to print -80 dB and 150 dB)."""
    rng = np.random.default_rng(length)
    refs = rng.standard_normal((2, length))
    ests = refs + 0.1 * rng.standard_normal((2, length))
    names = metric_registry.names()
    out = score_utterance(ests, refs, refs.sum(0), 16000, metrics=names)
    computed = {"si_snr", "si_snr_i", "sdr", "sdr_i"} if length >= 512 else set()
    for target in out["targets"]:
        for key in metric_registry.keys(names):
            if key in computed:
                assert np.isfinite(target[key]) and f"{key}_error" not in target
            else:
                assert math.isnan(target[key]), key
                assert target[f"{key}_error"].startswith("too short for "), key
    if length == 100:
        assert out["targets"][0]["sdr_error"] == ("too short for SDR (100 samples; it needs 512 "
                                                  "at 16000 Hz)")
        assert out["targets"][0]["stoi_error"].endswith("it needs 6554 at 16000 Hz)")
        with pytest.raises(ValueError, match="shorter than the 512-tap distortion filter"):
            sdr(ests, refs)
