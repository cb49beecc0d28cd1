"""A third party's plugin gets what a bundled model, metric and corpus get, with no line of
avss_bench naming it: `tests/plugin_package` (its own pyproject.toml) is pip-installed into a
temporary folder and found only through its entry points, then used through the real CLI."""

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

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).parent / "plugin_package"
CLI = [sys.executable, "-m", "avss_bench.cli"]


def test_readme_plugin_example_is_the_tested_plugin() -> None:
    """README's example is the plugin's separator file, byte for byte, and stays short."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- plugin-example:start -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its plugin example"
    assert match.group(1) == (PLUGIN / "avss_plugin_example" / "masknet.py").read_text()
    assert len(match.group(1).strip().splitlines()) <= 35


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The plugin installed (`pip install --target`), a corpus, and a trained run of it."""
    root = tmp_path_factory.mktemp("plugin")
    target = root / "pkgs"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    corpus = make_prepared_corpus(root / "corpus", {"tr": 4, "cv": 1, "tt": 2}, seconds=1.0)

    def run(*args: str) -> str:
        done = subprocess.run(CLI + list(args), env=env, capture_output=True, text=True,
                              timeout=300, cwd=root)
        assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
        return done.stdout

    run("train", "-m", "masknet", "-d", str(corpus), "-o", str(root / "run"), "-q",
        "data.segment_s=1.0", "data.batch_size=2", "optim.max_epochs=1",
        "model.config={channels: 16}")
    return {"root": root, "corpus": corpus, "run": run}


@pytest.mark.slow
def test_plugin_separator_gets_its_row_profile_and_report(plugin) -> None:
    root, run = plugin["root"], plugin["run"]
    assert "masknet" in run("models") and "avss_plugin_example.masknet:MaskNet" in run("models")
    assert "MaskNet-{channels}" in run("models", "--card", "masknet")
    results = root / "results" / "masknet"
    run("evaluate", "-c", str(root / "run" / "best.pt"), "-d", str(plugin["corpus"]), "-o",
        str(results), "-q", "--metrics", "si_snr,sdr")
    summary = json.loads((results / "summary.json").read_text())
    assert summary["config"] == {"channels": 16, "video_dim": 16}
    assert summary["model_package"] == {"name": "avss-plugin-example", "version": "0.3.1"}
    profile = run("profile", "-c", str(root / "run" / "best.pt"), "--runs", "0", "--seconds",
                  "1", "--json")
    (results / "profile.json").write_text(profile)
    assert json.loads(profile)["paper_note"].startswith("Params/MACs as avss-bench counts")
    human = run("profile", "-m", "masknet", "--runs", "0", "--seconds", "1")
    assert "MaskNet-64" in human and "ResNet-18" not in human  # its card, not another's note
    table = run("table", str(root / "results"))
    row = next(line for line in table.splitlines() if line.startswith("| MaskNet-16 "))
    assert row.count("–") < 6  # quality and Params/MACs filled in
    run("report", str(root / "results"), "-o", str(root / "site"))
    assert "MaskNet-16" in (root / "site" / "index.html").read_text()


@pytest.mark.slow
def test_plugin_corpus_gets_a_prepare_subcommand(plugin) -> None:
    run = plugin["run"]
    assert "flatfaces" in run("prepare", "--help")
    assert "one folder per speaker" in run("prepare", "flatfaces", "--help")


@pytest.mark.slow
def test_plugin_metric_is_scored_and_tabled(plugin) -> None:
    root, run = plugin["root"], plugin["run"]
    results = root / "metric_results" / "masknet"
    run("evaluate", "-c", str(root / "run" / "best.pt"), "-d", str(plugin["corpus"]), "-o",
        str(results), "-q", "--metrics", "si_snr,energy_ratio")
    header = (results / "results.csv").read_text().splitlines()[0].split(",")
    assert "energy_ratio" in header and "energy_ratio_error" in header
    assert "energy_ratio" in json.loads((results / "summary.json").read_text())["metrics"]
    assert "Energy ratio" in run("table", str(root / "metric_results"))
