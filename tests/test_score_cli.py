"""`avss-bench score` on files and on a manifest split (resume, baseline cache, failures)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner
from interrupt_helpers import interrupt_scoring_after
from shared_data import SHARED

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.evaluate.scoring import score_split

METRICS_DIR = SHARED / "data" / "metrics"
SPLIT_CASES = ["c01_arctic_0db_good", "c04_swapped_order", "c06_dc_offset", "c09_silent_reference",
               "c11_short_2s_musical_noise", "c08_8k_narrowband"]



def _expected(case: str) -> dict:
    return json.loads((METRICS_DIR / case / "expected.json").read_text())


def _invoke(args: list[str]):
    return CliRunner().invoke(main, ["score", *args])


def test_files_json_schema_and_values() -> None:
    c = METRICS_DIR / "c04_swapped_order"
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      str(c / "s2.wav"), "--estimate", str(c / "est1.wav"), str(c / "est2.wav"),
                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    exp = _expected("c04_swapped_order")["metrics"]
    assert out["sample_rate"] == 16000
    assert out["permutation"] == [1, 0]
    first = out["targets"][0]
    assert first["reference"].endswith("s1.wav") and first["estimate"].endswith("est2.wav")
    assert set(first) == {"reference", "estimate", "si_snr", "si_snr_i", "sdr", "sdr_i", "pesq",
                          "stoi"}  # the registry's default set, as every command
    for j, t in enumerate(out["targets"]):
        assert t["si_snr"] == pytest.approx(exp["si_snr"]["pit_db"][j], abs=1e-3)
        assert t["sdr_i"] == pytest.approx(exp["bss_eval_sources"]["mir_eval"]["sdri_db"][j],
                                           abs=1e-3)
        assert t["pesq"] == pytest.approx(exp["pesq"]["wb"][j], abs=1e-4)
        assert t["stoi"] == pytest.approx(exp["stoi"]["stoi"][j], abs=1e-4)


def test_files_table_and_failure_reasons() -> None:
    c = METRICS_DIR / "c09_silent_reference"
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      "--reference", str(c / "s2.wav"), "--estimate", str(c / "est1.wav"),
                      "--estimate", str(c / "est2.wav"), "--metrics", "si_snr,pesq"])
    assert result.exit_code == 0, result.output
    assert "SI-SNRi" in result.output and "n/a" in result.output
    assert "s2.wav PESQ: silent reference" in result.output
    json_out = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s2.wav"),
                        "--estimate", str(c / "est2.wav"), "--metrics", "pesq", "--json"])
    target = json.loads(json_out.output)["targets"][0]
    assert target["pesq"] is None and target["pesq_error"] == "silent reference"


def test_files_errors_are_one_line(tmp_path: Path) -> None:
    c = METRICS_DIR / "c01_arctic_0db_good"
    missing = tmp_path / "nope.wav"
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      "--estimate", str(missing)])
    assert result.exit_code == 1
    assert result.output.strip() == f"avss-bench: error: {missing}: file not found"
    garbage = tmp_path / "bad.wav"
    garbage.write_bytes(b"RIFF not really a wav")
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      "--estimate", str(garbage)])
    assert result.exit_code == 1 and str(garbage) in result.output
    assert len(result.output.strip().splitlines()) == 1
    x, sr = sf.read(c / "est1.wav")
    short = tmp_path / "short.wav"
    sf.write(short, x[:-100], sr)
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      "--estimate", str(short)])
    assert result.exit_code == 1 and "--trim" in result.output and str(short) in result.output
    result = _invoke(["--mixture", str(c / "mixture.wav"), "--reference", str(c / "s1.wav"),
                      "--estimate", str(short), "--trim", "--json", "--metrics", "si_snr"])
    assert result.exit_code == 0
    assert math.isfinite(json.loads(result.output)["targets"][0]["si_snr"])


def _make_split(root: Path) -> tuple[Path, Path]:
    """A manifest over fixture cases (absolute paths) and EST_DIR/<id>/s{k}.wav estimates."""
    rows = []
    est_dir = root / "est"
    for case in SPLIT_CASES:
        folder = METRICS_DIR / case
        info = sf.info(folder / "mixture.wav")
        row = {"mixture_id": case, "mix_path": str(folder / "mixture.wav"),
               "num_samples": info.frames, "sample_rate": info.samplerate}
        perm = _expected(case)["metrics"]["si_snr"]["pit_perm"]
        for k in (1, 2):
            row |= {f"s{k}_path": str(folder / f"s{k}.wav"), f"s{k}_utt": f"u{k}",
                    f"s{k}_speaker": f"spk{k}", f"s{k}_gain_db": 0.0, f"s{k}_lips": f"l{k}.npz",
                    f"s{k}_source": f"src{k}"}
            (est_dir / case).mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / f"est{perm[k - 1] + 1}.wav", est_dir / case / f"s{k}.wav")
        rows.append(row)
    manifest = root / "data" / "tt.csv"
    manifest.parent.mkdir()
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest, est_dir


def test_split_values_summary_resume_and_cache(tmp_path: Path, monkeypatch) -> None:
    manifest, est_dir = _make_split(tmp_path)
    out_a = tmp_path / "results" / "model_a"
    summary = score_split(manifest, est_dir, out_a, quiet=True, chunk_size=2)
    table = pd.read_csv(out_a / "results.csv", dtype={"mixture_id": str})
    assert list(table["mixture_id"]) == sorted(SPLIT_CASES * 2)
    assert list(table.columns[:8]) == ["mixture_id", "target", "si_snr", "si_snr_i", "sdr",
                                       "sdr_i", "pesq", "stoi"]
    row = table[(table.mixture_id == "c01_arctic_0db_good") & (table.target == "s2")].iloc[0]
    exp = _expected("c01_arctic_0db_good")["metrics"]
    assert row["si_snr_i"] == pytest.approx(exp["si_snr"]["improvement_db"][1], abs=1e-3)
    assert row["sdr"] == pytest.approx(exp["bss_eval_sources"]["mir_eval"]["sdr_db"][1], abs=1e-3)
    assert row["pesq"] == pytest.approx(exp["pesq"]["wb"][1], abs=1e-4)
    silent = table[(table.mixture_id == "c09_silent_reference") & (table.target == "s2")].iloc[0]
    assert math.isnan(silent["pesq"]) and silent["pesq_error"] == "silent reference"
    nb = table[(table.mixture_id == "c08_8k_narrowband") & (table.target == "s1")].iloc[0]
    assert nb["pesq"] == pytest.approx(_expected("c08_8k_narrowband")["metrics"]["pesq"]["nb"][0],
                                       abs=1e-4)
    pesq_summary = summary["metrics"]["pesq"]
    assert pesq_summary["n"] == 11 and pesq_summary["n_failed"] == 1
    assert pesq_summary["failures"] == {"silent reference": 1}
    finite = table["pesq"].dropna()
    assert pesq_summary["mean"] == pytest.approx(finite.mean())
    assert pesq_summary["ci95"][0] < pesq_summary["mean"] < pesq_summary["ci95"][1]
    on_disk = json.loads((out_a / "summary.json").read_text())
    assert on_disk["provenance"]["library_versions"]["pesq"]
    assert on_disk["provenance"]["options"]["metrics"] == ["si_snr", "sdr", "pesq", "stoi"]
    assert on_disk["baselines"]["reused"] is False
    assert not (out_a / ".partial").exists()
    reference_bytes = (out_a / "results.csv").read_bytes()

    # interrupted after two chunks, then resumed: same bytes, baselines reused from the cache
    out_b = tmp_path / "results" / "model_b"
    interrupt_scoring_after(monkeypatch, 2, lambda: score_split(manifest, est_dir, out_b,
                                                                quiet=True, chunk_size=2))
    assert len(list((out_b / ".partial").glob("part-*.csv"))) == 2
    assert not (out_b / "results.csv").exists()
    resumed = score_split(manifest, est_dir, out_b, quiet=True, chunk_size=2)
    assert resumed["rows_scored_this_run"] == 4
    assert resumed["baselines"]["reused"] is True
    assert (out_b / "results.csv").read_bytes() == reference_bytes


def test_split_cli_parallel_and_missing_estimate(tmp_path: Path) -> None:
    manifest, est_dir = _make_split(tmp_path)
    out = tmp_path / "res"
    result = _invoke(["--manifest", str(manifest), "--estimates", str(est_dir), "--out", str(out),
                      "--jobs", "2", "--metrics", "si_snr,sdr"])
    assert result.exit_code == 0, result.output
    assert "SI-SNRi" in result.output and "12 targets of 6 mixtures" in result.output
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 12 and "pesq" not in table.columns
    (est_dir / "c06_dc_offset" / "s2.wav").unlink()
    result = _invoke(["--manifest", str(manifest), "--estimates", str(est_dir), "--out",
                      str(tmp_path / "res2")])
    assert result.exit_code == 1
    assert "c06_dc_offset/s2.wav: estimate not found" in result.output


def test_split_length_mismatch_row_fails_and_trim(tmp_path: Path) -> None:
    manifest, est_dir = _make_split(tmp_path)
    target = est_dir / "c11_short_2s_musical_noise" / "s1.wav"
    x, sr = sf.read(target)
    sf.write(target, np.concatenate([x, np.zeros(50)]), sr)
    out = tmp_path / "res"
    summary = score_split(manifest, est_dir, out, quiet=True, metrics=("si_snr",))
    table = pd.read_csv(out / "results.csv")
    bad = table[(table.mixture_id == "c11_short_2s_musical_noise") & (table.target == "s1")]
    assert bad["si_snr_error"].iloc[0].startswith("length mismatch")
    assert summary["metrics"]["si_snr"]["n_failed"] == 2  # c09's silent s2 and this one
    trimmed = score_split(manifest, est_dir, tmp_path / "res_trim", quiet=True,
                          metrics=("si_snr",), trim=True)
    assert trimmed["metrics"]["si_snr"]["n_failed"] == 1


def test_split_wrong_rate_estimate_is_a_failed_row(tmp_path: Path) -> None:
    manifest, est_dir = _make_split(tmp_path)
    target = est_dir / "c01_arctic_0db_good" / "s2.wav"
    x, _ = sf.read(target)
    sf.write(target, x[::2], 8000)
    summary = score_split(manifest, est_dir, tmp_path / "res", quiet=True, metrics=("pesq",))
    table = pd.read_csv(tmp_path / "res" / "results.csv")
    row = table[(table.mixture_id == "c01_arctic_0db_good") & (table.target == "s2")].iloc[0]
    assert math.isnan(row["pesq"]) and row["pesq_error"].startswith("sample rate mismatch")
    assert summary["metrics"]["pesq"]["n_failed"] == 2  # and c09's silent reference


def _copied_split(root: Path, cases: list[str]) -> tuple[Path, Path]:
    """Like `_make_split`, but over writable copies of the fixture wavs."""
    manifest, est_dir = _make_split(root)
    frame = pd.read_csv(manifest)
    frame = frame[frame["mixture_id"].isin(cases)].reset_index(drop=True)
    for index, row in frame.iterrows():
        for column in ("mix_path", "s1_path", "s2_path"):
            copy = root / "wavs" / row["mixture_id"] / Path(row[column]).name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row[column], copy)
            frame.loc[index, column] = str(copy)
    frame.to_csv(manifest, index=False)
    return manifest, est_dir


def test_changed_mixtures_are_rescored_not_taken_from_the_cache(tmp_path: Path) -> None:
    case = "c01_arctic_0db_good"
    manifest, est_dir = _copied_split(tmp_path, [case])
    first = score_split(manifest, est_dir, tmp_path / "results/a", quiet=True,
                        metrics=("si_snr",))
    again = score_split(manifest, est_dir, tmp_path / "results/b", quiet=True,
                        metrics=("si_snr",))
    assert first["baselines"]["reused"] is False and again["baselines"]["reused"] is True
    mix_path = tmp_path / "wavs" / case / "mixture.wav"
    mix, rate = sf.read(mix_path)
    s1, _ = sf.read(tmp_path / "wavs" / case / "s1.wav")
    sf.write(mix_path, 0.5 * (mix + s1), rate, subtype="FLOAT")  # same name, new content
    changed = score_split(manifest, est_dir, tmp_path / "results/c", quiet=True,
                          metrics=("si_snr",))
    assert changed["baselines"]["reused"] is False
    fresh = score_split(manifest, est_dir, tmp_path / "fresh/c", quiet=True, metrics=("si_snr",),
                        baseline_cache=tmp_path / "empty_cache")
    old_table = pd.read_csv(tmp_path / "results/a/results.csv")
    new_table = pd.read_csv(tmp_path / "results/c/results.csv")
    assert (tmp_path / "results/c/results.csv").read_bytes() == (
        tmp_path / "fresh/c/results.csv").read_bytes()
    assert fresh["baselines"]["reused"] is False
    assert abs(new_table["mix_si_snr"][0] - old_table["mix_si_snr"][0]) > 1.0


def test_changed_estimates_never_resume_old_chunks(tmp_path: Path, monkeypatch) -> None:
    cases = ["c01_arctic_0db_good", "c04_swapped_order"]
    manifest, est_dir = _copied_split(tmp_path, cases)
    interrupt_scoring_after(monkeypatch, 1, lambda: score_split(
        manifest, est_dir, tmp_path / "out", quiet=True, metrics=("si_snr",), chunk_size=1))
    estimate = est_dir / cases[0] / "s1.wav"
    audio, rate = sf.read(estimate)
    sf.write(estimate, 0.9 * audio, rate, subtype="FLOAT")
    with pytest.raises(AvssError, match="holds another score run: estimates.files was "):
        score_split(manifest, est_dir, tmp_path / "out", quiet=True, metrics=("si_snr",),
                    chunk_size=1)
    # a finished folder keeps its stamp: other options are refused too, until --overwrite
    result = _invoke(["--manifest", str(manifest), "--estimates", str(est_dir), "--out",
                      str(tmp_path / "out"), "--metrics", "sdr", "--overwrite", "--quiet"])
    assert result.exit_code == 0, result.output
    result = _invoke(["--manifest", str(manifest), "--estimates", str(est_dir), "--out",
                      str(tmp_path / "out"), "--metrics", "si_snr", "--quiet"])
    assert result.exit_code == 1 and "options.metrics was [\"sdr\"]" in result.output


def test_split_scores_every_target_the_manifest_gives(tmp_path: Path) -> None:
    """A 3-speaker row gets s3 scored from EST_DIR/<id>/s3.wav; a 2-speaker row beside it in the
    same manifest has no s3."""
    from avss_bench.metrics import si_snr

    manifest, est_dir = _make_split(tmp_path)
    frame = pd.read_csv(manifest)
    frame = frame[frame["mixture_id"].isin(["c01_arctic_0db_good", "c04_swapped_order"])]
    three = frame["mixture_id"] == "c01_arctic_0db_good"
    folder = METRICS_DIR / "c01_arctic_0db_good"
    for field, value in (("path", str(folder / "est1.wav")), ("utt", "u3"), ("speaker", "spk3"),
                         ("gain_db", 0.0), ("lips", "l3.npz"), ("source", "src3")):
        frame[f"s3_{field}"] = np.where(three, value, None)
    frame.to_csv(manifest, index=False)
    shutil.copy(folder / "mixture.wav", est_dir / "c01_arctic_0db_good" / "s3.wav")
    summary = score_split(manifest, est_dir, tmp_path / "res", quiet=True, metrics=("si_snr",))
    table = pd.read_csv(tmp_path / "res" / "results.csv")
    assert list(zip(table["mixture_id"], table["target"], strict=True)) == [
        ("c01_arctic_0db_good", "s1"), ("c01_arctic_0db_good", "s2"),
        ("c01_arctic_0db_good", "s3"), ("c04_swapped_order", "s1"), ("c04_swapped_order", "s2")]
    mix, _ = sf.read(folder / "mixture.wav")
    est1, _ = sf.read(folder / "est1.wav")
    assert table["si_snr"][2] == pytest.approx(si_snr(mix, est1), abs=1e-9)
    assert summary["num_targets"] == 5 and summary["num_mixtures"] == 2
    (est_dir / "c01_arctic_0db_good" / "s3.wav").unlink()
    with pytest.raises(AvssError, match=r"s3.wav: estimate not found; expected "
                                        r"EST_DIR/<mixture_id>/s1.wav, s2.wav, s3.wav"):
        score_split(manifest, est_dir, tmp_path / "res2", quiet=True, metrics=("si_snr",))


PLUGIN_METRIC = '''
import numpy as np
from avss_bench.metrics.registry import Column, Metric


def snr(estimate, reference, *, sample_rate, mixture):
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2)))


SNR = Metric("plain_snr", snr, (Column("plain_snr", "SNR", "dB"),
                                Column("plain_snr_i", "SNRi", "dB")), improvement=True)
'''


@pytest.fixture
def metric_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A metric installed as a third party's would be: a module and its entry point."""
    from avss_bench.metrics.registry import metric_registry

    root = tmp_path / "site"
    (root / "plain_snr_plugin-1.0.dist-info").mkdir(parents=True)
    (root / "plain_snr_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: plain-snr-plugin\nVersion: 1.0\n")
    (root / "plain_snr_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[avss_bench.metrics]\nplain_snr = plain_snr_plugin:SNR\n")
    (root / "plain_snr_plugin.py").write_text(PLUGIN_METRIC)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(metric_registry, "_all", None)
    yield
    monkeypatch.setattr(metric_registry, "_all", None)


def test_a_plugin_metric_is_scored_summarised_and_cached_like_a_bundled_one(
        tmp_path: Path, metric_plugin: None) -> None:
    manifest, est_dir = _copied_split(tmp_path, ["c01_arctic_0db_good", "c09_silent_reference"])
    out = tmp_path / "results" / "a"
    result = _invoke(["--manifest", str(manifest), "--estimates", str(est_dir), "--out",
                      str(out), "--metrics", "plain_snr,si_snr"])
    assert result.exit_code == 0, result.output
    assert "SNRi" in result.output
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns[2:6]) == ["si_snr", "si_snr_i", "plain_snr", "plain_snr_i"]
    row = table.iloc[0]
    est, _ = sf.read(est_dir / "c01_arctic_0db_good" / "s1.wav")
    ref, _ = sf.read(tmp_path / "wavs" / "c01_arctic_0db_good" / "s1.wav")
    mix, _ = sf.read(tmp_path / "wavs" / "c01_arctic_0db_good" / "mixture.wav")
    snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2))
    assert row["plain_snr"] == pytest.approx(snr, abs=1e-9)
    assert row["plain_snr_i"] == pytest.approx(snr - row["mix_plain_snr"], abs=1e-9)
    assert row["mix_plain_snr"] == pytest.approx(
        10 * np.log10(np.sum(ref ** 2) / np.sum((ref - mix) ** 2)), abs=1e-9)
    silent = table[table["target"] == "s2"].iloc[1]
    assert silent["plain_snr_error"] == "silent reference"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["plain_snr_i"]["n"] == 3
    assert summary["metrics"]["plain_snr"]["failures"] == {"silent reference": 1}
    again = score_split(manifest, est_dir, tmp_path / "results" / "b", quiet=True,
                        metrics=("plain_snr",))
    assert again["baselines"]["reused"] is True  # its mixture baselines were cached
    files = _invoke(["--mixture", str(tmp_path / "wavs" / "c01_arctic_0db_good" / "mixture.wav"),
                     "--reference", str(tmp_path / "wavs" / "c01_arctic_0db_good" / "s1.wav"),
                     "--estimate", str(est_dir / "c01_arctic_0db_good" / "s1.wav"),
                     "--metrics", "plain_snr", "--json"])
    assert json.loads(files.output)["targets"][0]["plain_snr"] == pytest.approx(snr, abs=1e-9)
