"""The mixing port against the original recipe's reference outputs (../shared/data/mixing)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA as SHARED

from avss_bench.core.errors import AvssError
from avss_bench.io.audio import decode_audio, read_audio, to_int16
from avss_bench.prepare.mixing import (
    SilentSourceError,
    activlev,
    format_gain,
    level_8k,
    mix_pair,
    mixture_name,
    parse_gain,
)

MIXING = SHARED / "mixing"
CORPUS = SHARED / "corpus" / "lrs2"



def _expected(split: str) -> dict:
    return json.loads((MIXING / split / "expected.json").read_text())


def _mixtures() -> list[tuple[str, dict]]:
    if not MIXING.is_dir():
        return []
    return [(split, m) for split in ("tr", "cv", "tt") for m in _expected(split)["mixtures"]]


def _raw(path: str) -> np.ndarray:
    data, rate = read_audio(MIXING / path, dtype="int16")
    assert rate == 16000
    return data / 32768.0


def test_activlev_matches_voicebox_on_every_reference_signal() -> None:
    spec = json.loads((MIXING / "activlev" / "activlev.json").read_text())
    tol_db = spec["tolerance_recommended"]["lev_db_abs"]
    assert tol_db <= 1e-6
    assert len(spec["signals"]) >= 17
    for signal in spec["signals"]:
        path = MIXING / "activlev" / signal["input"]
        x = np.load(path) if path.suffix == ".npy" else read_audio(path, dtype="int16")[0] / 32768.0
        got = activlev(x, signal["rate"])
        if signal["lev_db"] is None:  # digital silence
            assert got.power == 0.0 and got.activity == 0.0, signal["name"]
            continue
        assert abs(got.db - signal["lev_db"]) <= 1e-6, signal["name"]
        assert abs(got.activity - signal["activity"]) <= 1e-9, signal["name"]
        assert math.isclose(got.longterm_power, signal["longterm_power"], rel_tol=1e-9)


@pytest.mark.parametrize(("split", "mixture"), _mixtures(),
                         ids=[f"{s}-{m['index']}" for s, m in _mixtures()])
def test_reference_mixture_from_raw_audio(split: str, mixture: dict) -> None:
    """Names exact; samples within 1 LSB (in fact bit-identical); scales, peak, sum, levels."""
    p1, g1, p2, g2 = mixture["scp_line"].split()
    x1, x2 = _raw(mixture["s1"]["raw_audio"]), _raw(mixture["s2"]["raw_audio"])
    gain1, gain2 = parse_gain(g1), parse_gain(g2)
    name = mixture_name(Path(p1).stem, gain1, Path(p2).stem, gain2)
    assert name == mixture["name"]
    result = mix_pair(x1, gain1, x2, gain2)
    assert result.num_samples == mixture["num_samples"]
    assert result.truncated == mixture["truncated_by_min"]
    assert math.isclose(result.peak_scale, mixture["peak_scale"], rel_tol=1e-9)
    lev = mixture["activlev_8k"]
    assert math.isclose(result.levels[0], lev["s1_power"], rel_tol=1e-9)
    assert math.isclose(result.levels[1], lev["s2_power"], rel_tol=1e-9)
    for kind in ("mix", "s1", "s2"):
        ref, _ = read_audio(MIXING / mixture["files"][kind], dtype="int16")
        ours = getattr(result, kind)
        assert ours.dtype == np.int16 and ours.shape == ref.shape
        assert np.max(np.abs(ours.astype(int) - ref)) <= 1, kind
    peak = max(int(np.max(np.abs(getattr(result, k)))) for k in ("mix", "s1", "s2"))
    assert abs(peak - 29491) <= 1
    residual = result.mix.astype(int) - result.s1.astype(int) - result.s2.astype(int)
    assert np.max(np.abs(residual)) <= 1
    diff = level_8k(result.s1 / 32768.0).db - level_8k(result.s2 / 32768.0).db
    want = (gain1 - gain2) if not mixture["truncated_by_min"] \
        else mixture["written_level_diff_db_8k"]
    assert abs(diff - want) <= 0.005


def test_reference_files_are_reproduced_bit_for_bit(tmp_path: Path) -> None:
    """The WAV files we write from raw_audio have the reference's sha256 (header included)."""
    from avss_bench.io.audio import write_wav

    for split, mixture in _mixtures():
        p1, g1, p2, g2 = mixture["scp_line"].split()
        result = mix_pair(_raw(mixture["s1"]["raw_audio"]), parse_gain(g1),
                          _raw(mixture["s2"]["raw_audio"]), parse_gain(g2))
        for kind in ("mix", "s1", "s2"):
            out = tmp_path / f"{split}-{kind}.wav"
            write_wav(out, getattr(result, kind))
            assert hashlib.sha256(out.read_bytes()).hexdigest() == mixture["sha256"][kind]


def test_decoding_the_mp4_ourselves_stays_within_8_lsb_and_80_db() -> None:
    for _, mixture in _mixtures():
        p1, g1, p2, g2 = mixture["scp_line"].split()
        x1 = decode_audio(CORPUS / mixture["s1"]["corpus_utt"], seconds=2.0)
        x2 = decode_audio(CORPUS / mixture["s2"]["corpus_utt"], seconds=2.0)
        assert x1.size == mixture["s1"]["raw_num_samples"]
        assert x2.size == mixture["s2"]["raw_num_samples"]
        result = mix_pair(x1, parse_gain(g1), x2, parse_gain(g2))
        for kind in ("mix", "s1", "s2"):
            ref = read_audio(MIXING / mixture["files"][kind], dtype="int16")[0].astype(np.float64)
            ours = getattr(result, kind).astype(np.float64)
            assert np.max(np.abs(ours - ref)) <= 8
            snr = 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ours - ref) ** 2), 1e-12))
            assert snr >= 80


def test_decoded_sources_match_raw_audio_within_1_lsb() -> None:
    for wav in sorted((MIXING / "raw_audio").glob("*/*.wav")):
        progid, num = wav.stem.split("_")
        ref = read_audio(wav, dtype="int16")[0]
        ours = decode_audio(CORPUS / "mvlrs_v1" / "main" / progid / f"{num}.mp4", seconds=2.0)
        assert ours.size == ref.size
        assert np.max(np.abs(np.round(ours * 32768) - ref)) <= 1


def test_silent_source_is_refused_not_mixed_into_zeros() -> None:
    """The .m writes an all-zero mix (0/0 -> NaN -> 0); we refuse the pair instead."""
    excluded = _expected("tr")["excluded_lines"]
    assert {e["index"] for e in excluded} == {0, 2, 5}
    silent = _raw("raw_audio/train/6011856429906274513_00004.wav")
    other = _raw("raw_audio/train/5791146224735093870_00003.wav")
    assert level_8k(silent).power == 0.0
    with pytest.raises(SilentSourceError, match="source 2 is silent"):
        mix_pair(other, 4.88555, silent, -4.88555)
    with pytest.raises(SilentSourceError, match="source 1 is silent"):
        mix_pair(silent, 4.67554, other, -4.67554)


def test_undecodable_and_truncated_media_raise_one_line_errors() -> None:
    with pytest.raises(AvssError, match="cannot decode") as info:
        decode_audio(CORPUS / "mvlrs_v1/main/6312077425533871019/00009.mp4", seconds=2.0)
    assert "\n" not in str(info.value)
    lrs3 = SHARED / "corpus" / "lrs3" / "trainval" / "b7GdWx0pLcM" / "50004.mp4"
    with pytest.raises(AvssError, match="truncated"):
        decode_audio(lrs3, seconds=2.0)
    with pytest.raises(AvssError, match="not found"):
        decode_audio(CORPUS / "nope.mp4")


def test_short_clip_decodes_to_its_real_length() -> None:
    """The genuine 0.88 s LRS2 clip: ffmpeg (and we) decode 14,336 samples (0.896 s)."""
    x = decode_audio(CORPUS / "mvlrs_v1/main/6325910842190313542/00001.mp4", seconds=2.0)
    assert x.size == 14336


@pytest.mark.parametrize(("text", "printed"), [
    ("4.88555", "4.8856"), ("2.75645", "2.7565"), ("1.04805", "1.048"), ("4.24932", "4.2493"),
    ("-4.24932", "-4.2493"), ("2.0", "2"), ("-0", "0"), ("0.29401", "0.29401"), ("4.99999", "5"),
])
def test_gain_names_follow_matlab_num2str(text: str, printed: str) -> None:
    assert format_gain(parse_gain(text)) == printed


def test_int16_rounding_is_half_away_from_zero_and_saturates() -> None:
    x = np.array([0.5, 1.5, -0.5, -1.5, 2.4999, -2.5001, 40000.0, -40000.0]) / 32768.0
    assert to_int16(x).tolist() == [1, 2, -1, -2, 2, -3, 32767, -32768]
