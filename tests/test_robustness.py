"""`avss-bench robustness` end to end on a small prepared corpus with the tiny-av separator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.robustness.grid import build_grid, corpus_kind, parse_data
from avss_bench.robustness.plot import robustness_figure
from avss_bench.robustness.table import read_robustness, robustness_notes, robustness_table

sys.path.insert(0, str(Path(__file__).parent))
from figure_checks import look  # noqa: E402
from synthetic import make_prepared_corpus, make_tiny_checkpoint  # noqa: E402

from avss_bench.io.manifest import write_manifest  # noqa: E402

CONDITIONS = "zero:100,offset:3,fps:12.5"


def make_target_absent(root: Path) -> Path:
    """A prepared 2-speaker corpus whose mixtures also name a third, silent face (as `prepare
    --target-absent` writes it: absent_utt, absent_speaker, absent_lips)."""
    make_prepared_corpus(root, {"tt": 2}, seconds=1.0, seed=2)
    lips = np.full((25, 96, 96), 60, np.uint8)
    lips[::2, 40:56, 30:66] = 200  # a mouth that moves, of a face that does not speak
    np.savez_compressed(root / "lips" / "silent.npz", data=lips)
    manifest = root / "manifests" / "tt.csv"
    frame = pd.read_csv(manifest)
    frame["absent_utt"], frame["absent_speaker"] = "silent_u", "spk3"
    frame["absent_lips"] = "../lips/silent.npz"
    write_manifest(frame, manifest)
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("robust")
    clean = make_prepared_corpus(root / "clean", {"tt": 2}, seconds=1.0, seed=0)
    harder = make_prepared_corpus(root / "snr5", {"tt": 2}, seconds=1.0, seed=1)
    absent = make_target_absent(root / "absent")
    checkpoint = make_tiny_checkpoint(root / "tiny.pt")
    out = root / "out"
    runner = CliRunner()
    first = runner.invoke(main, ["robustness", "-c", str(checkpoint), "-d", str(clean),
                                 "-d", f"snr5={harder}", "-d", f"absent={absent}",
                                 "--conditions", CONDITIONS, "--metrics", "si_snr,pesq,stoi",
                                 "--seed", "3", "--name", "tiny", "-o", str(out), "-q",
                                 "--device", "cpu"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(clean),
                                  "--conditions", "zero:100", "--metrics", "si_snr,pesq,stoi",
                                  "-o", str(out), "-q", "--device", "cpu"])
    assert second.exit_code == 0, second.output
    return out, runner


def test_csv_has_one_row_per_model_and_condition(run: tuple[Path, object]) -> None:
    out, _ = run
    frame = pd.read_csv(out / "robustness.csv")
    tiny = frame[frame["model"] == "tiny"]
    assert list(tiny["condition"]) == ["clean", "zero100", "offset3", "fps12.5", "snr5",
                                       "absent"]
    assert list(tiny["kind"]) == ["clean", "zero", "offset", "fps", "snr", "absent"]
    assert tiny["value"].tolist()[1:5] == [100.0, 3.0, 12.5, 5.0]
    assert tiny["n"].tolist() == [4] * 5 + [2]  # targets; the absent row counts mixtures
    assert (tiny["n_failed"] == 0).all()
    tiny = tiny[tiny["kind"] != "absent"]
    clean = tiny["si_snr_i"].iloc[0]
    assert tiny["drop"].iloc[0] == 0.0
    pd.testing.assert_series_equal(tiny["drop"], tiny["si_snr_i"] - clean, check_names=False,
                                   atol=1e-4, rtol=0)
    assert abs(tiny["drop"].iloc[1]) > 1e-4  # black lips change what tiny-av separates
    mixture = frame[frame["model"] == "mixture"]
    assert list(mixture["condition"]) == ["clean", "zero100"]
    assert mixture["si_snr_i"].abs().max() < 1e-3  # the unprocessed mixture: 0 dB everywhere


def test_target_absent_leak_is_the_evaluations(run: tuple[Path, object]) -> None:
    out, _ = run
    frame = pd.read_csv(out / "robustness.csv").set_index(["model", "condition"])
    row = frame.loc[("tiny", "absent")]
    summary = json.loads((out / "tiny" / "absent" / "summary.json").read_text())
    leak = summary["target_absent_leak_db"]
    assert row["leak_db"] == float(f"{leak['mean']:.6g}")  # the CSV's 6 significant digits
    assert [row["leak_db_ci_low"], row["leak_db_ci_high"]] == [float(f"{v:.6g}")
                                                             for v in leak["ci95"]]
    absent_csv = pd.read_csv(out / "tiny" / "absent" / "absent.csv")
    assert abs(row["leak_db"] - absent_csv["leak_db"].mean()) < 1e-4 and len(absent_csv) == 2
    assert np.isnan(row["si_snr_i"]) and np.isnan(row["drop"])  # no target: no SI-SNRi
    assert frame.loc[("tiny", "clean"), ["leak_db"]].isna().all()  # leak only where absent


def test_each_condition_is_an_evaluation_stamped_with_its_seed(run: tuple[Path, object]) -> None:
    out, _ = run
    summary = json.loads((out / "tiny" / "zero100" / "summary.json").read_text())
    expected = {"kind": "zero", "value": 100.0, "seed": 3, "spec": "zero:100"}
    assert summary["visual_condition"] == expected
    assert summary["provenance"]["options"]["visual_condition"] == expected
    stamp = json.loads((out / "tiny" / "zero100" / "evaluate.stamp.json").read_text())
    assert stamp["options"]["visual_condition"] == expected
    assert summary["num_targets"] == 4
    clean = json.loads((out / "tiny" / "clean" / "summary.json").read_text())
    assert clean["visual_condition"] is None
    assert "visual_condition" not in clean["provenance"]["options"]
    # the damaged point is a condition of the clean test set, not another data set
    assert summary["test_set"]["kind"] == "condition"
    assert summary["test_set"]["details"]["base_fingerprint"] == \
        clean["test_set"]["fingerprint"]
    assert summary["test_set"]["label"] == clean["test_set"]["label"] + \
        " + visual zero:100, seed 3"
    corpus = json.loads((out / "tiny" / "snr5" / "summary.json").read_text())
    assert corpus["data"].endswith("snr5")


def test_plot_is_written_and_shows_every_scored_metric(run: tuple[Path, object],
                                                      tmp_path: Path) -> None:
    out, runner = run
    png = (out / "robustness.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    frame = pd.read_csv(out / "robustness.csv").set_index(["model", "condition"])
    summary = json.loads((out / "tiny" / "zero100" / "summary.json").read_text())
    for key in ("pesq", "stoi"):  # every scored metric with its CI
        stat = summary["metrics"][key]
        assert frame.loc[("tiny", "zero100"), key] == pytest.approx(stat["mean"], rel=1e-5)
        assert frame.loc[("tiny", "zero100"), f"{key}_ci_low"] == pytest.approx(
            stat["ci95"][0], rel=1e-5)
    assert np.isnan(frame.loc[("tiny", "absent"), "pesq"])  # no target, no PESQ
    fig = robustness_figure(read_robustness([out]))
    look(fig, {"SI-SNRi": "(dB)", "PESQ": "(MOS-LQO)", "frames zeroed": "(%)", "SNR": "(dB)"})
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_visible() and ax.get_ylabel()]
    assert {"SI-SNRi (dB)", "PESQ (MOS-LQO)", "STOI", "leak (dB, lower is better)"} == \
        set(ylabels)
    legend = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert "tiny" in legend and "mixture" not in legend  # the mixture is the baseline line
    plt.close(fig)
    pdf = tmp_path / "robustness.pdf"
    shown = runner.invoke(main, ["table", "--robustness", str(out), "--plot", str(pdf)])
    assert shown.exit_code == 0, shown.output
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_table_robustness_view(run: tuple[Path, object]) -> None:
    out, runner = run
    table = robustness_table(read_robustness([out]))
    assert list(table.index) == ["mixture", "tiny"]  # the CSV order: by model
    assert list(table.columns) == ["clean", "zero100", "offset3", "fps12.5", "snr5", "absent"]
    assert table.loc["mixture", "offset3"] == "–"
    frame = pd.read_csv(out / "robustness.csv").set_index(["model", "condition"])
    value, drop = frame.loc[("tiny", "zero100"), ["si_snr_i", "drop"]]
    assert table.loc["tiny", "zero100"] == f"{value:.2f} ({drop:+.2f})"
    shown = runner.invoke(main, ["table", str(out), "--robustness"])
    assert shown.exit_code == 0, shown.output
    leak = frame.loc[("tiny", "absent"), "leak_db"]
    assert table.loc["tiny", "absent"] == f"SI-SNRi undefined; leak {leak:.2f} dB"
    assert table.loc["mixture", "absent"] == "–"
    assert "| model | clean | zero100 | offset3 | fps12.5 | snr5 | absent |" in shown.output
    assert f"| tiny | {frame.loc[('tiny', 'clean'), 'si_snr_i']:.2f} |" in shown.output
    assert "absent: target absent" in shown.output and "lower is better" in shown.output
    clean = json.loads((out / "tiny" / "clean" / "summary.json").read_text())["test_set"]
    assert shown.output.startswith(f"Robustness: conditions of {clean['label']} (fingerprint "
                                   f"{clean['fingerprint'][:12]})")
    assert "a test set of its own" not in shown.output  # same utterances and gains: same set


def test_a_corpus_of_other_mixtures_is_named_as_its_own_test_set() -> None:
    frame = pd.DataFrame({
        "model": ["m"] * 3, "condition": ["clean", "zero30", "3spk"],
        "kind": ["clean", "zero", "3spk"],
        "test_set": ["LRS2-2Mix", "LRS2-2Mix + visual zero:30, seed 0",
                     "LRS2, generated 3-speaker list (seed 0), 3000 mixtures"],
        "test_set_fingerprint": ["a" * 64, "b" * 64, "c" * 64],
        "base_fingerprint": ["a" * 64, "a" * 64, "c" * 64]})
    assert robustness_notes(frame) == [
        "Robustness: conditions of LRS2-2Mix (fingerprint aaaaaaaaaaaa)",
        "3spk: LRS2, generated 3-speaker list (seed 0), 3000 mixtures is a test set of its "
        "own, not a condition of LRS2-2Mix; its change from clean compares other mixtures."]


def test_grid_parsing() -> None:
    data = parse_data(["data/lrs2", "snr0=data/n0", "rt60_0.6=data/r"])
    assert data[0] == ("clean", Path("data/lrs2"))
    assert corpus_kind("snr-5") == ("snr", -5.0) and corpus_kind("rt60_0.6") == ("rt60", 0.6)
    assert corpus_kind("absent") == ("absent", None)
    grid = build_grid(data, ["zero:30", "clean", "offset:-2"])
    assert [c.label for c in grid] == ["clean", "zero30", "offset-2", "snr0", "rt60_0.6"]
    with pytest.raises(AvssError, match="given twice"):
        parse_data(["a", "x=b", "x=c"])
    with pytest.raises(AvssError, match="unknown visual condition"):
        build_grid(data, ["blur:2"])


def test_a_target_absent_corpus_cannot_be_the_clean_one(run: tuple[Path, object],
                                                         tmp_path: Path) -> None:
    out, runner = run
    result = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(out.parent / "absent"),
                                  "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "-d absent=DIR" in result.output
    assert not (tmp_path / "o").exists()


def test_a_missing_corpus_folder_stops_before_any_evaluation(run: tuple[Path, object],
                                                             tmp_path: Path) -> None:
    out, runner = run
    clean = out.parent / "clean"
    result = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(clean), "-d",
                                  f"snr0={tmp_path / 'absent'}", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert str(tmp_path / "absent") in result.output and "no manifest" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("metrics", "status", "said"), [
    ("si_snr,pesk", 2, "unknown metric(s) pesk"),
    ("sdr", 1, "--metrics must include si_snr")])
def test_bad_metrics_stop_before_any_evaluation(run: tuple[Path, object], tmp_path: Path,
                                                metrics: str, status: int, said: str) -> None:
    out, runner = run
    result = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(out.parent / "clean"),
                                  "-o", str(tmp_path / "o"), "--metrics", metrics])
    assert result.exit_code == status and said in result.output
    assert not (tmp_path / "o").exists()
