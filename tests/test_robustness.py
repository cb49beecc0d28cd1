"""`avss-bench robustness` end to end on a small prepared corpus with the tiny-av separator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.models.checkpoints import save_checkpoint
from avss_bench.models.separators.tiny import TinyAVSeparator
from avss_bench.robustness.grid import build_grid, corpus_kind, parse_data
from avss_bench.robustness.table import read_robustness, robustness_table

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402

CONDITIONS = "zero:100,offset:3,fps:12.5"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("robust")
    clean = make_prepared_corpus(root / "clean", {"tt": 2}, seconds=1.0, seed=0)
    harder = make_prepared_corpus(root / "snr5", {"tt": 2}, seconds=1.0, seed=1)
    torch.manual_seed(0)
    checkpoint = root / "tiny.pt"
    save_checkpoint(TinyAVSeparator(enc_channels=16, hidden=32, num_blocks=2, repeats=1,
                                    video_channels=8), checkpoint, "tiny-av")
    out = root / "out"
    runner = CliRunner()
    first = runner.invoke(main, ["robustness", "-c", str(checkpoint), "-d", str(clean),
                                 "-d", f"snr5={harder}", "--conditions", CONDITIONS,
                                 "--seed", "3", "--name", "tiny", "-o", str(out), "-q",
                                 "--device", "cpu"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(clean),
                                  "--conditions", "zero:100", "-o", str(out), "-q",
                                  "--device", "cpu"])
    assert second.exit_code == 0, second.output
    return out, runner


def test_csv_has_one_row_per_model_and_condition(run: tuple[Path, object]) -> None:
    out, _ = run
    frame = pd.read_csv(out / "robustness.csv")
    tiny = frame[frame["model"] == "tiny"]
    assert list(tiny["condition"]) == ["clean", "zero100", "offset3", "fps12.5", "snr5"]
    assert list(tiny["kind"]) == ["clean", "zero", "offset", "fps", "snr"]
    assert tiny["value"].tolist()[1:] == [100.0, 3.0, 12.5, 5.0]
    assert (tiny["n"] == 4).all() and (tiny["n_failed"] == 0).all()
    clean = tiny["si_snr_i"].iloc[0]
    assert tiny["drop"].iloc[0] == 0.0
    pd.testing.assert_series_equal(tiny["drop"], tiny["si_snr_i"] - clean, check_names=False,
                                   atol=1e-4, rtol=0)
    assert abs(tiny["drop"].iloc[1]) > 1e-4  # black lips change what tiny-av separates
    mixture = frame[frame["model"] == "mixture"]
    assert list(mixture["condition"]) == ["clean", "zero100"]
    assert mixture["si_snr_i"].abs().max() < 1e-3  # the unprocessed mixture: 0 dB everywhere


def test_each_condition_is_an_evaluation_stamped_with_its_seed(run: tuple[Path, object]) -> None:
    out, _ = run
    summary = json.loads((out / "tiny" / "zero100" / "summary.json").read_text())
    expected = {"kind": "zero", "value": 100.0, "seed": 3, "spec": "zero:100"}
    assert summary["visual_condition"] == expected
    assert summary["options"]["visual_condition"] == expected
    stamp = json.loads((out / "tiny" / "zero100" / "evaluate.stamp.json").read_text())
    assert stamp["options"]["visual_condition"] == expected
    assert summary["dataset"] == "clean [zero:100]" and summary["num_targets"] == 4
    clean = json.loads((out / "tiny" / "clean" / "summary.json").read_text())
    assert clean["visual_condition"] is None and "visual_condition" not in clean["options"]
    corpus = json.loads((out / "tiny" / "snr5" / "summary.json").read_text())
    assert corpus["dataset"] == "snr5 [snr5]" and corpus["data"].endswith("snr5")


def test_plot_is_written(run: tuple[Path, object]) -> None:
    out, _ = run
    png = (out / "robustness.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_table_robustness_view(run: tuple[Path, object]) -> None:
    out, runner = run
    table = robustness_table(read_robustness([out]))
    assert list(table.index) == ["mixture", "tiny"]  # the CSV order: by model
    assert list(table.columns) == ["clean", "zero100", "offset3", "fps12.5", "snr5"]
    assert table.loc["mixture", "offset3"] == "–"
    frame = pd.read_csv(out / "robustness.csv").set_index(["model", "condition"])
    value, drop = frame.loc[("tiny", "zero100"), ["si_snr_i", "drop"]]
    assert table.loc["tiny", "zero100"] == f"{value:.2f} ({drop:+.2f})"
    shown = runner.invoke(main, ["table", str(out), "--robustness"])
    assert shown.exit_code == 0, shown.output
    assert "| model | clean | zero100 | offset3 | fps12.5 | snr5 |" in shown.output
    assert f"| tiny | {frame.loc[('tiny', 'clean'), 'si_snr_i']:.2f} |" in shown.output


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


def test_a_missing_corpus_folder_stops_before_any_evaluation(run: tuple[Path, object],
                                                             tmp_path: Path) -> None:
    out, runner = run
    clean = out.parent / "clean"
    result = runner.invoke(main, ["robustness", "-m", "mixture", "-d", str(clean), "-d",
                                  f"snr0={tmp_path / 'absent'}", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert str(tmp_path / "absent") in result.output and "no manifest" in result.output
    assert not (tmp_path / "o").exists()
