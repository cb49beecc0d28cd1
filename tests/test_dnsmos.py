"""DNSMOS (P.835 SIG/BAK/OVRL): agrees with speechmos's own `run`, fails as NaN with a reason,
and is blind to the speaker (the caveat the README states next to the number)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from speechmos import dnsmos as speechmos_dnsmos

from avss_bench.cli import main
from avss_bench.metrics.dnsmos import KEYS, dnsmos
from avss_bench.metrics.registry import metric_registry
from avss_bench.metrics.utterance import score_utterance

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import SHARED_DATA  # noqa: E402

FIXTURES = SHARED_DATA / "metrics"
SOURCE = {"dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos"}


def _read(case: str, name: str) -> tuple[np.ndarray, int]:
    x, rate = sf.read(FIXTURES / case / f"{name}.wav")
    return x, rate


def _agrees(x: np.ndarray) -> None:
    ours = dnsmos(x, sample_rate=16000)
    peak = np.abs(x).max()
    theirs = speechmos_dnsmos.run(x / peak if peak > 1 else x, 16000)
    for key in KEYS:
        assert abs(ours[key] - float(theirs[SOURCE[key]])) < 1e-6, key
    assert 1.0 <= ours["dnsmos_ovrl"] <= 5.0


def test_agrees_with_speechmos_on_a_fixture() -> None:
    x, rate = _read("c11_short_2s_musical_noise", "est1")
    assert rate == 16000
    _agrees(x)


@pytest.mark.slow  # ~1 min: speechmos runs every 9 s window of each clip
def test_agrees_with_speechmos_on_every_16k_fixture() -> None:
    cases = [c["case_id"] for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
             if c["sample_rate"] == 16000 and not c["case_id"].startswith("c11")]
    assert len(cases) == 10
    for case in cases:  # est1 of each (est2 is made the same way)
        _agrees(_read(case, "est1")[0])


def test_metric_keys_and_failures_are_nan_with_a_reason() -> None:
    assert metric_registry.check(["dnsmos", "si_snr"]) == ("si_snr", "dnsmos")
    assert metric_registry.keys(["dnsmos"]) == list(KEYS)
    mix, rate = _read("c08_8k_narrowband", "mixture")
    refs = np.stack([_read("c08_8k_narrowband", s)[0] for s in ("s1", "s2")])
    out = score_utterance(refs, refs, mix, rate, metrics=("si_snr", "dnsmos"))
    for target in out["targets"]:
        assert math.isfinite(target["si_snr"])
        assert all(math.isnan(target[k]) for k in KEYS)
        assert "16000 Hz" in target["dnsmos_sig_error"]
    silent = np.zeros((1, 16000))
    result = score_utterance(silent, np.ones((1, 16000)), np.ones(16000), 16000,
                             metrics=("dnsmos",))
    assert math.isnan(result["targets"][0]["dnsmos_ovrl"])
    assert result["targets"][0]["dnsmos_ovrl_error"] == "silent estimate"


def test_dnsmos_cannot_tell_the_wrong_speaker() -> None:
    case = "c11_short_2s_musical_noise"
    mix, _ = _read(case, "mixture")
    refs = np.stack([_read(case, s)[0] for s in ("s1", "s2")])
    right = score_utterance(refs, refs, mix, 16000, metrics=("si_snr", "dnsmos"),
                            permute=False)["targets"]
    wrong = score_utterance(refs[::-1], refs, mix, 16000, metrics=("si_snr", "dnsmos"),
                            permute=False)["targets"]
    assert right[0]["si_snr"] > 60 and wrong[0]["si_snr"] < 5  # SI-SNR sees the swap
    for key in KEYS:  # DNSMOS scores the clean wrong talker like the right one
        assert wrong[0][key] == pytest.approx(right[1][key], abs=1e-9)


def test_score_cli_computes_dnsmos() -> None:
    case = FIXTURES / "c11_short_2s_musical_noise"
    result = CliRunner().invoke(main, [
        "score", "--mixture", str(case / "mixture.wav"), "--reference", str(case / "s1.wav"),
        "--estimate", str(case / "est1.wav"), "--metrics", "si_snr,dnsmos", "--json"])
    assert result.exit_code == 0, result.output
    target = json.loads(result.output)["targets"][0]
    expected = dnsmos(_read("c11_short_2s_musical_noise", "est1")[0], sample_rate=16000)
    assert target["dnsmos_ovrl"] == pytest.approx(expected["dnsmos_ovrl"], abs=1e-9)
