"""`--executor slurm:...` against a real scheduler: a one-node Slurm cluster (Debian's slurm-wlm
and munge, started in a temp folder by tests/slurm_cluster.sh) runs `prepare` and
`score --manifest` into the bytes of a local run, and settings Slurm refuses are one line
before any work.

Needs root and `apt-get install slurm-wlm munge` (.ci/run installs them); without them the tests
fail, naming what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_data import assert_prepared
from test_prepare import CORPUS, tree_hashes
from test_score_cli import _make_split

from avss_bench.cli import main

SCRIPT = Path(__file__).parent / "slurm_cluster.sh"
#: One job of one single-threaded worker process, small enough for the one-node cluster.
SLURM = "slurm:cores=1,memory=1GB,processes=1,walltime=00:10:00"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch")
               if not shutil.which(t, path=path)]
    assert not missing, f"{missing} not found: apt-get install slurm-wlm munge (as .ci/run does)"
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder / "cluster")],
                             capture_output=True, text=True, timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    conf = started.stdout.strip().splitlines()[-1]
    saved = {k: os.environ.get(k) for k in ("SLURM_CONF",)}
    os.environ["SLURM_CONF"] = conf
    cwd = os.getcwd()
    os.chdir(folder)  # the jobs' slurm-<id>.out files land here
    try:
        yield folder
    finally:
        os.chdir(cwd)
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder / "cluster")], check=False,
                       timeout=60)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _prepare(out: Path, executor: str) -> None:
    result = CliRunner().invoke(main, [
        "prepare", "lrs2", "--root", str(CORPUS / "lrs2"), "--out", str(out), "--mix-list",
        str(CORPUS / "lrs2"), "--splits", "tt", "--skip-lips", "--quiet", "--executor",
        executor])
    assert_prepared(result)  # the miniature's list holds one flagged same-recording mixture


@pytest.mark.slow
def test_prepare_and_score_on_slurm_write_the_bytes_of_local_runs(slurm: Path,
                                                                  tmp_path: Path) -> None:
    _prepare(tmp_path / "local", "local")
    _prepare(tmp_path / "slurm", SLURM)
    report = json.loads((tmp_path / "slurm" / "report.json").read_text())
    assert report["options"]["executor"] == SLURM
    hashes = tree_hashes(tmp_path / "local")
    assert len([k for k in hashes if k.endswith(".wav")]) > 10
    assert tree_hashes(tmp_path / "slurm") == hashes
    assert list(slurm.glob("slurm-*.out"))  # the work ran in Slurm jobs

    manifest, estimates = _make_split(tmp_path / "split")
    outs = {}
    for name, executor in (("local", "local"), ("slurm", SLURM)):
        outs[name] = tmp_path / f"score-{name}"
        result = CliRunner().invoke(main, ["score", "--manifest", str(manifest), "--estimates",
                                           str(estimates), "--out", str(outs[name]), "--quiet",
                                           "--executor", executor])
        assert result.exit_code == 0, result.output
    local, remote = (outs[n] / "results.csv" for n in ("local", "slurm"))
    assert remote.read_bytes() == local.read_bytes()
    assert json.loads((outs["slurm"] / "summary.json").read_text())["metrics"] == json.loads(
        (outs["local"] / "summary.json").read_text())["metrics"]


@pytest.mark.parametrize(("setting", "reason"), [
    ("queue=nosuch", "invalid partition"),
    ("memory=100TB", "Slurm refuses the worker job"),
])
def test_settings_slurm_refuses_are_one_line_before_any_work(slurm: Path, tmp_path: Path,
                                                             setting: str, reason: str) -> None:
    spec = SLURM.replace("memory=1GB", "") if "memory" in setting else SLURM
    start = time.monotonic()
    result = CliRunner().invoke(main, [
        "prepare", "lrs2", "--root", str(CORPUS / "lrs2"), "--out", str(tmp_path / "out"),
        "--mix-list", str(CORPUS / "lrs2"), "--splits", "tt", "--skip-lips", "--quiet",
        "--executor", f"{spec.rstrip(',')},{setting}".replace(",,", ",")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("avss-bench: error: --executor slurm:"), result.output
    assert reason.lower() in lines[-1].lower(), lines[-1]
    assert time.monotonic() - start < 60
    assert not (tmp_path / "out" / "report.json").exists()
