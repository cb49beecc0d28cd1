"""`validate`: passes on a good prepared corpus, fails with clear messages on damaged copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner
from shared_data import SHARED_DATA as SHARED

from avss_bench.cli import main
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.records import save_lips
from avss_bench.prepare.validate import validate_prepared

CORPUS = SHARED / "corpus"
LANDMARKER = SHARED / "models" / "face_landmarker.task"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LRS3 tt (5 mixtures, 4 utterances, real lip ROIs) and tr (audio of 5 mixtures)."""
    out = tmp_path_factory.mktemp("good") / "out"
    prepare_corpus("lrs3", CORPUS / "lrs3", out, mix_list=CORPUS / "lrs3", splits=["tt"],
                   landmarker=LANDMARKER, quiet=True)
    return out


@pytest.fixture
def copy(good: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    return out


def _manifest(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "manifests" / "tt.csv")


def _problems(out: Path, **kw) -> list[str]:
    return validate_prepared(out, quiet=True, **kw).problems


def test_good_output_passes_also_in_parallel(good: Path) -> None:
    assert _problems(good) == []
    assert validate_prepared(good, quiet=True, jobs=2).rows == {"tt": 5}
    result = CliRunner().invoke(main, ["validate", str(good), "--quiet"])
    assert result.exit_code == 0 and "OK (tt 5 mixtures checked)" in result.output


def test_damaged_copy_fails_with_one_clear_line_per_problem(copy: Path) -> None:
    frame = _manifest(copy)
    rows = frame.to_dict("records")
    wav = lambda rel: copy / "manifests" / rel  # noqa: E731
    # 1. a mixture that is not s1 + s2
    mix, rate = sf.read(wav(rows[0]["mix_path"]), dtype="int16")
    mix[1000:1010] += 50
    sf.write(wav(rows[0]["mix_path"]), mix, rate, subtype="PCM_16")
    # 2. a source cut short
    s1, rate = sf.read(wav(rows[1]["s1_path"]), dtype="int16")
    sf.write(wav(rows[1]["s1_path"]), s1[:-160], rate, subtype="PCM_16")
    # 3. a source at the wrong rate
    s2, _ = sf.read(wav(rows[2]["s2_path"]), dtype="int16")
    sf.write(wav(rows[2]["s2_path"]), s2, 8000, subtype="PCM_16")
    # 4. a gain that is not what the list says (in the manifest)
    frame.loc[3, "s1_gain_db"] = frame.loc[3, "s1_gain_db"] + 0.02
    # 5. a missing mixture file
    wav(rows[4]["s2_path"]).unlink()
    frame.to_csv(copy / "manifests" / "tt.csv", index=False)
    # 6. lips of the wrong length, 7. lips of the wrong size, 8. missing lips
    lips = sorted({r["s1_lips"] for r in rows} | {r["s2_lips"] for r in rows})
    data = np.load(copy / "manifests" / lips[0])["data"]
    save_lips(copy / "manifests" / lips[0], data[:40])
    save_lips(copy / "manifests" / lips[1], np.zeros((data.shape[0], 88, 88), np.uint8))
    (copy / "manifests" / lips[2]).unlink()

    problems = _problems(copy)
    text = "\n".join(problems)
    # the edited gain also changes the content the test-set record fingerprinted
    edited = [p for p in problems if not p.startswith("tt.csv row ")]
    assert len(edited) == 1 and edited[0].startswith("tt: the manifest (5 mixtures, fingerprint")
    assert "is not the test set its record names (LRS3, given list, 5 of 5 mixtures" in edited[0]
    assert all("\n" not in p for p in problems)
    assert "row 1" in text and "mix != s1 + s2 (max |mix - s1 - s2| = 5" in text
    assert "s1 31840 samples (manifest says 32000)" in text
    assert "s2 rate 8000 Hz (expected 16000)" in text
    assert "level difference s1 - s2" in text and "tolerance 0.01 dB" in text
    assert "s2 missing:" in text
    assert "lips 40 lip frames but the audio needs 50 at 25 fps (32000 samples" in text
    assert "expected uint8 [F, 96, 96], got uint8 [50, 88, 88]" in text
    assert f"lips missing: {copy.resolve() / 'lips'}" in text.replace("/manifests/../", "/")

    result = CliRunner().invoke(main, ["validate", str(copy), "--quiet"])
    assert result.exit_code == 1
    assert "mix != s1 + s2" in result.output and "problem(s)" in result.output


def test_peak_and_sum_checks_catch_rescaled_files(copy: Path) -> None:
    row = _manifest(copy).to_dict("records")[0]
    for kind in ("mix_path", "s1_path", "s2_path"):  # scaled together: still a sum, wrong peak
        path = copy / "manifests" / row[kind]
        data, rate = sf.read(path, dtype="int16")
        sf.write(path, (data // 2).astype(np.int16), rate, subtype="PCM_16")
    text = "\n".join(_problems(copy))
    assert "peak 14745" in text or "peak 14746" in text


def test_gain_check_falls_back_to_written_levels_without_raw_audio(copy: Path) -> None:
    shutil.rmtree(copy / "raw_audio")
    assert _problems(copy) == []
    frame = _manifest(copy)
    frame.loc[0, "s2_gain_db"] = frame.loc[0, "s2_gain_db"] - 0.5
    frame.to_csv(copy / "manifests" / "tt.csv", index=False)
    problems = _problems(copy)
    assert len(problems) == 2 and "measured on the written files" in problems[1]
    assert problems[0].startswith("tt: the manifest")  # its content is not the record's


def test_missing_manifests_and_skipped_lips_are_reported(copy: Path, tmp_path: Path) -> None:
    assert _problems(copy, splits=["tr", "tt"]) == \
        [f"tr: manifest missing: {copy / 'manifests' / 'tr.csv'}"]
    frame = _manifest(copy)
    frame["s1_lips"] = ""
    frame.to_csv(copy / "manifests" / "tt.csv", index=False)
    assert any("s1_lips is empty" in p for p in _problems(copy))
    assert _problems(copy, require_lips=False) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _problems(empty) == [f"no manifests under {empty / 'manifests'}"]
