"""The README's plugin example trains and evaluates through the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


def plugin_code() -> str:
    text = README.read_text()
    match = re.search(r"<!-- plugin-example:start -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its plugin example"
    return match.group(1)


def test_readme_plugin_is_short() -> None:
    assert len(plugin_code().strip().splitlines()) <= 30


@pytest.mark.slow
def test_readme_plugin_trains_and_evaluates_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "my_separator.py").write_text(plugin_code())
    corpus = make_prepared_corpus(tmp_path / "corpus", {"tr": 4, "cv": 1, "tt": 2}, seconds=1.0)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plug"), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "avss_bench.cli"]
    train = subprocess.run(cli + ["train", "-r", "demo/tiny-av", "--data", str(corpus), "--out",
                                  str(tmp_path / "run"), "--quiet", "data.segment_s=1.0",
                                  "data.batch_size=2", "optim.max_epochs=1",
                                  "model.name=my_separator:MaskNet",
                                  "model.config={channels: 16}"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr
    evaluate = subprocess.run(cli + ["evaluate", "--model", "my_separator:MaskNet",
                                     "--checkpoint", str(tmp_path / "run/best.pt"), "--data",
                                     str(corpus), "--out", str(tmp_path / "res"), "--quiet",
                                     "--metrics", "si_snr,sdr"],
                              env=env, capture_output=True, text=True, timeout=300)
    assert evaluate.returncode == 0, evaluate.stderr
    summary = json.loads((tmp_path / "res/summary.json").read_text())
    assert summary["num_targets"] == 4 and summary["config"] == {"channels": 16, "video_dim": 16}
    table = subprocess.run(cli + ["table", str(tmp_path / "res")], env=env, capture_output=True,
                           text=True, timeout=120)
    assert table.returncode == 0 and "my_separator:MaskNet" in table.stdout
