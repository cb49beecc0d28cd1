"""`avss-bench demo`: the real CLI end to end at reduced size, reproducibility, exact resume,
and a work folder that is never someone else's.

The end-to-end run uses an empty HOME and no AVSS_BENCH_LANDMARKER, as a newcomer would: the
FaceLandmarker model comes from the package. It is the one expensive step (generate, prepare,
train 16 steps, evaluate, profile); the reproducibility tests reuse its prepared corpus.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import sha256_of
from avss_bench.demo.run import STAMP_NAME, DemoRun, claim_workdir, run_demo, split_mixtures
from avss_bench.demo.training import train_steps
from avss_bench.io.manifest import read_manifest
from avss_bench.io.testset import fingerprint_of, manifest_lines, read_test_set

sys.path.insert(0, str(Path(__file__).parent))

STEPS, MIXTURES = 16, 40  # 32 training mixtures = 64 examples = 8 steps per epoch
ROWS = ("Mixture (unprocessed)", "IIANet (demo size)")


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory) -> tuple[Path, str]:
    """One real `avss-bench demo` run (subprocess, empty HOME): its folder and stdout."""
    base = tmp_path_factory.mktemp("demo")
    home = base / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("AVSS_BENCH_LANDMARKER", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    workdir = base / "work"
    result = subprocess.run(
        [sys.executable, "-m", "avss_bench.cli", "demo", "--workdir", str(workdir), "--steps",
         str(STEPS), "--mixtures", str(MIXTURES), "--quiet"],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list(home.rglob("*.task"))  # no model downloaded or cached: the bundled one
    return workdir, result.stdout


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in ROWS:
            rows[cells[0]] = cells[1:]
    return rows


def _without_latency(text: str) -> list[list[str]]:
    return [cells[:-1] for cells in _table_rows(text).values()]


@pytest.mark.slow
def test_cli_end_to_end_prints_the_table(demo_cli) -> None:
    workdir, out = demo_cli
    header = next(line for line in out.splitlines() if line.startswith("| Method"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:-1] == [
        "Method", "SI-SNRi", "SDRi", "PESQ", "STOI", "Targets (failed)", "Params (M)",
        "MACs (G per 1 s)", "Params w/ visual enc. (M)", "MACs w/ visual enc. (G per 1 s)"]
    assert cells[-1].startswith("Latency (ms; ours: CPU ") and "batch 1 x 1 s" in cells[-1]
    # the demo's own test set, named for what it is, with no published row beside it
    prepared = workdir / "prepared" / "manifests" / "tt.csv"
    record = read_test_set(prepared)
    assert record.label == "Demo, generated list (seed 0), 5 mixtures"
    assert record.fingerprint == fingerprint_of(manifest_lines(
        read_manifest(prepared).to_dict("records")))
    assert f"Test set: {record.label} (generated list; 5 mixtures, fingerprint " \
           f"{record.short})" in out and "(reported)" not in out
    rows = _table_rows(out)
    assert set(rows) == set(ROWS)
    assert rows["Mixture (unprocessed)"][:2] == ["0.00 ± 0.00", "0.00 ± 0.00"]
    model = rows["IIANet (demo size)"]
    assert re.fullmatch(r"-?\d+\.\d\d ± \d+\.\d\d", model[0])
    assert model[4] == "10" and model[5] == "0.114" and float(model[7]) > 0
    times = re.search(r"^stage wall times: (.*)$", out, re.M)
    assert times is not None
    for stage in ("generate corpus", "prepare", "train", "evaluate iianet-demo", "profile",
                  "robustness", "total"):
        assert re.search(rf"{stage} \d+ s", times.group(1)), stage
    report = json.loads((workdir / "demo_report.json").read_text())
    assert report["options"]["steps"] == STEPS and report["options"]["seed"] == 0
    assert report["options"]["mixtures"] == split_mixtures(MIXTURES) == {"tr": 32, "cv": 3,
                                                                         "tt": 5}
    log = (workdir / "runs" / "iianet-demo" / "log.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in log[1:]] == [["1", "8"], ["2", "16"]]
    assert (workdir / "results" / "leaderboard.md").read_text().strip() in out
    # the short robustness grid: clean + 3 damaged-video conditions, CSV, plot, table
    robust = workdir / "results" / "robustness"
    csv = (robust / "robustness.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in csv[1:]] == ["clean", "zero30", "offset3",
                                                        "fps12.5"]
    assert (robust / "robustness.png").stat().st_size > 10_000
    assert (workdir / "results" / "robustness.md").read_text().strip() in out
    # a rerun resumes everything, with the same table
    again = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--steps", str(STEPS),
                                      "--mixtures", str(MIXTURES), "--quiet"])
    assert again.exit_code == 0, again.output
    assert again.output.count("already complete, skipped") == 7
    assert _table_rows(again.output) == rows


@pytest.mark.slow
def test_demo_results_give_a_papers_figures_and_table(demo_cli, tmp_path) -> None:
    from figure_checks import compile_latex, look

    from avss_bench.evaluate.leaderboard import collect, group_entries
    from avss_bench.evaluate.pareto import pareto_figure
    from avss_bench.robustness.plot import robustness_figure
    from avss_bench.robustness.table import read_robustness

    workdir, _ = demo_cli
    results = workdir / "results"
    ours = [str(results / "mixture"), str(results / "iianet-demo")]
    for args in (["--format", "latex", "--out", str(tmp_path / "table.tex")],
                 ["--reported", "--plot", str(tmp_path / "pareto.pdf")]):
        done = CliRunner().invoke(main, ["table", *ours, *args])
        assert done.exit_code == 0, done.output
    robust = CliRunner().invoke(main, ["table", "--robustness", str(results / "robustness"),
                                       "--plot", str(tmp_path / "robustness.pdf")])
    assert robust.exit_code == 0, robust.output
    for name in ("pareto.pdf", "robustness.pdf"):
        assert (tmp_path / name).read_bytes()[:4] == b"%PDF"
    compile_latex(tmp_path / "latex", (tmp_path / "table.tex").read_text())
    fig, missing = pareto_figure(group_entries(collect([Path(p) for p in ours]), reported=True))
    assert missing == []
    look(fig, {"SI-SNRi": "(dB)", "MACs": "(G per 1 s"})
    look(robustness_figure(read_robustness([results / "robustness"])),
         {"SI-SNRi": "(dB)", "frames zeroed": "(%)", "frame rate": "(fps)"})


def _copy_prepared(source: Path, dest: Path) -> None:
    """A demo folder holding only `source`'s stamp, corpus and prepared corpus."""
    dest.mkdir()
    shutil.copy2(source / STAMP_NAME, dest / STAMP_NAME)
    for name in ("corpus", "prepared"):
        shutil.copytree(source / name, dest / name, symlinks=True)


@pytest.mark.slow
def test_same_seed_same_checkpoint_and_table_also_after_an_interruption(demo_cli,
                                                                         tmp_path) -> None:
    workdir, out = demo_cli
    expected = sha256_of(workdir / "checkpoints" / "iianet-demo.pt")
    # a second run with the same seed, interrupted in the middle of epoch 2 (step 12 of 16),
    # then resumed by the demo: the first run's bytes and tables
    resumed = tmp_path / "resumed"
    _copy_prepared(workdir, resumed)
    demo = DemoRun(resumed, steps=STEPS, mixtures=MIXTURES, quiet=True)
    summary, _ = train_steps(demo.recipe, demo.prepared, resumed / "runs" / demo.model, seed=0,
                             steps=12, quiet=True, echo=lambda _: None)
    assert summary["steps"] == 12 and summary["epochs"] == 1
    lines: list[str] = []
    report = run_demo(resumed, steps=STEPS, mixtures=MIXTURES, quiet=True, echo=lines.append)
    assert "[demo] resuming training at step 12/16 (epoch 2)" in lines
    assert sha256_of(resumed / "checkpoints" / "iianet-demo.pt") == expected
    assert _without_latency(report["table"]) == _without_latency(out)
    assert report["robustness"] == (workdir / "results" / "robustness.md").read_text().strip()


def test_force_never_deletes_a_folder_the_demo_did_not_make(tmp_path) -> None:
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    for force in (False, True):
        with pytest.raises(AvssError, match="not a demo work folder"):
            run_demo(mine, force=force, quiet=True)
    result = CliRunner().invoke(main, ["demo", "--workdir", str(mine), "--force"])
    assert result.exit_code == 1 and "not a demo work folder" in result.output
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_other_options_are_refused_and_force_starts_over(tmp_path) -> None:
    workdir = tmp_path / "demo"
    options = DemoRun(workdir, seed=0).options()
    claim_workdir(workdir, options, force=False)  # an empty folder becomes the demo's
    stamp = json.loads((workdir / STAMP_NAME).read_text())
    assert stamp == {"tool": "avss-bench demo", "options": options}
    (workdir / "checkpoints").mkdir()
    (workdir / "checkpoints" / "iianet-demo.pt").write_bytes(b"seed 0 weights")
    claim_workdir(workdir, options, force=False)  # same options: resume, keep everything
    assert (workdir / "checkpoints" / "iianet-demo.pt").is_file()
    result = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--seed", "1"])
    assert result.exit_code == 1
    assert "made with other options (seed 0" in result.output
    assert "already complete" not in result.output
    assert (workdir / "checkpoints" / "iianet-demo.pt").is_file()
    seed1 = DemoRun(workdir, seed=1).options()
    claim_workdir(workdir, seed1, force=True)  # ours: deleted and stamped anew
    assert [p.name for p in workdir.iterdir()] == [STAMP_NAME]
    assert json.loads((workdir / STAMP_NAME).read_text())["options"]["seed"] == 1


def test_split_mixtures() -> None:
    assert split_mixtures(500) == {"tr": 400, "cv": 40, "tt": 60}
    assert split_mixtures(40) == {"tr": 32, "cv": 3, "tt": 5}
    with pytest.raises(AvssError, match="mixtures must be >= 10"):
        split_mixtures(5)
