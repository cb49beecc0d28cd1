"""Evaluation: one row per target, resume after interruption, 2-rank sharding == 1 rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from avss_bench.evaluate.run import evaluate
from avss_bench.models.checkpoints import save_checkpoint
from avss_bench.models.separators.tiny import TinyAVSeparator

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402

METRICS = ("si_snr", "sdr", "stoi")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("corpus"), {"tt": 5}, seconds=1.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(TinyAVSeparator(enc_channels=16, hidden=32, num_blocks=2, repeats=1,
                                    video_channels=8), path, "tiny-av")
    return path


def test_one_row_per_target_and_a_stamped_summary(corpus: Path, checkpoint: Path,
                                                  tmp_path: Path) -> None:
    summary = evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=METRICS,
                       save_audio=2, quiet=True)
    frame = pd.read_csv(tmp_path / "results.csv")
    assert len(frame) == 10 and list(frame["target"][:2]) == ["s1", "s2"]
    assert {"si_snr", "si_snr_i", "sdr", "sdr_i", "stoi"} <= set(frame.columns)
    assert summary["num_targets"] == 10 and len(summary["checkpoint_sha256"]) == 64
    assert summary["dataset"] == corpus.name  # no report.json: the folder names the data
    assert summary["config"]["enc_channels"] == 16
    assert summary["metrics"]["si_snr_i"]["n"] == 10
    assert len(list((tmp_path / "examples").glob("*.wav"))) == 2
    assert not list(tmp_path.glob("*.partial.csv"))


def test_unprocessed_mixture_has_zero_improvement(corpus: Path, tmp_path: Path) -> None:
    summary = evaluate("mixture", None, corpus, out_dir=tmp_path, metrics=METRICS, quiet=True,
                       dataset="demo")
    assert summary["dataset"] == "demo"
    frame = pd.read_csv(tmp_path / "results.csv")
    assert frame["si_snr_i"].abs().max() < 1e-9 and frame["sdr_i"].abs().max() < 1e-9


def test_interrupted_evaluation_resumes_to_identical_csv(corpus: Path, checkpoint: Path,
                                                         tmp_path: Path) -> None:
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path / "full", metrics=METRICS,
             quiet=True)
    full = (tmp_path / "full/results.csv").read_bytes()
    # An interruption leaves the partial file with some complete rows and a torn last line.
    lines = full.decode().splitlines(keepends=True)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "results.partial.csv").write_text("".join(lines[:4]) + lines[4][:17])
    evaluate("tiny-av", checkpoint, corpus, out_dir=resumed, metrics=METRICS, quiet=True)
    assert (resumed / "results.csv").read_bytes() == full


@pytest.mark.slow
def test_two_rank_evaluation_merges_to_the_one_rank_csv(corpus: Path, checkpoint: Path,
                                                        tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["evaluate", "--model", "tiny-av", "--checkpoint", str(checkpoint), "--data",
              str(corpus), "--metrics", ",".join(METRICS), "--quiet", "--device", "cpu"]
    one = subprocess.run([sys.executable, "-m", "avss_bench.cli", *common, "--out",
                          str(tmp_path / "one")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                          "2", "--master_port", str(29600 + os.getpid() % 1000), "-m",
                          "avss_bench.cli", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "two/results.csv").read_bytes() == (
        tmp_path / "one/results.csv").read_bytes()
    summary = json.loads((tmp_path / "two/summary.json").read_text())
    assert summary["world_size"] == 2 and summary["num_targets"] == 10
