"""`prepare --executor`: a 2-worker Dask cluster on the loopback interface writes the bytes of a
local run, even when a worker process is SIGKILLed in the middle of the lip stage.

One `dask-local:2` cluster is shared by the tests (starting one takes seconds).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_data import SHARED_DATA as SHARED
from test_prepare import run, tree_hashes

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.core.executor import (
    DaskExecutor,
    LocalExecutor,
    make_executor,
    parse_slurm_spec,
)

CORPUS = SHARED / "corpus"


@pytest.fixture(scope="module")
def cluster() -> DaskExecutor:
    executor = make_executor("dask-local:2")
    assert isinstance(executor, DaskExecutor) and executor.workers == 2
    addresses = list(executor.client.scheduler_info()["workers"])
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses)  # loopback only
    assert executor.client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert executor.client.dashboard_link.startswith("http://127.0.0.1:")
    yield executor
    executor.close()


def test_dask_local_writes_the_bytes_of_a_local_run(tmp_path: Path,
                                                    cluster: DaskExecutor) -> None:
    local = run("lrs2", tmp_path / "local", skip_lips=True)
    dask = run("lrs2", tmp_path / "dask", skip_lips=True, executor=cluster)
    assert dask["options"]["executor"] == "dask-local:2"
    assert local["options"]["executor"] == "local"
    assert dask["counts"] == local["counts"] and dask["dropped"] == local["dropped"]
    hashes = tree_hashes(tmp_path / "local")
    assert len([k for k in hashes if k.endswith(".wav")]) > 30
    assert tree_hashes(tmp_path / "dask") == hashes
    # data problems (a silent clip, an undecodable one) are records, as in the local run
    assert dask["skipped"] == local["skipped"] and len(local["skipped"]) >= 2
    # a rerun on the cluster resumes: nothing to do, same bytes
    run("lrs2", tmp_path / "dask", skip_lips=True, executor=cluster)
    assert tree_hashes(tmp_path / "dask") == hashes
    # the same cluster reached by its address (`--executor dask://HOST:PORT`) is left running
    address = cluster.client.scheduler.address.split("://", 1)[1]
    by_address = run("lrs2", tmp_path / "address", skip_lips=True, executor=f"dask://{address}")
    assert by_address["options"]["executor"] == f"dask://{address}"
    assert tree_hashes(tmp_path / "address") == hashes
    assert cluster.client.submit(sum, [1, 2]).result() == 3


def _kill_a_busy_worker(executor: DaskExecutor, prefix: str, killed: list) -> None:
    """SIGKILL the worker process that has been running a `prefix` task for 0.5 s."""
    client = executor.client
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 120
    first_seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(k).startswith(prefix) for k in keys):
                first_seen.setdefault(address, time.monotonic())
                if time.monotonic() - first_seen[address] > 0.5 and address in pids:
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append(pids[address])
                    return
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_lips_loses_nothing(tmp_path: Path, cluster: DaskExecutor) -> None:
    """~35 s: a local run with lip ROIs, then the cluster run with one worker killed."""
    local = run("lrs2", tmp_path / "local", splits=["tt"])
    pids_before = set(cluster.client.run(os.getpid).values())
    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster, "lips-", killed))
    killer.start()
    dask = run("lrs2", tmp_path / "dask", splits=["tt"], executor=cluster)
    killer.join()
    assert len(killed) == 1 and killed[0] in pids_before
    assert dask["utterances"] == local["utterances"] and dask["counts"] == local["counts"]
    assert local["utterances"]["lips_ok"] >= 4
    hashes = tree_hashes(tmp_path / "local")
    assert len([k for k in hashes if k.endswith(".npz")]) >= 4
    assert tree_hashes(tmp_path / "dask") == hashes  # no temp file of the killed worker left
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    pids_after = set(cluster.client.run(os.getpid).values())
    assert killed[0] not in pids_after and len(pids_after) == 2


def test_executor_specs() -> None:
    assert isinstance(make_executor(None, 3), LocalExecutor)
    assert make_executor("local", 3).workers == 3
    for bad in ("dask-local:0", "dask-local:x", "spark://h:1", "slurm:queue"):
        with pytest.raises(AvssError, match="executor"):
            make_executor(bad)


def test_slurm_spec_and_config_file(tmp_path: Path) -> None:
    config = tmp_path / "slurm.yaml"
    config.write_text("queue: cpu\ncores: 16\nmemory: 64GB\nwalltime: '04:00:00'\njobs: 2\n")
    jobs, options = parse_slurm_spec(f"slurm:config={config},jobs=8,cores=32")
    assert jobs == 8
    assert options == {"queue": "cpu", "cores": 32, "memory": "64GB", "walltime": "04:00:00",
                       "processes": 32}
    assert parse_slurm_spec("slurm") == (1, {})


def test_slurm_options_make_the_job_script() -> None:
    """The options reach dask-jobqueue's sbatch script (nothing is submitted: no Slurm here)."""
    from dask_jobqueue import SLURMCluster

    jobs, options = parse_slurm_spec("slurm:jobs=3,queue=cpu,cores=4,memory=8GB,"
                                     "walltime=01:00:00")
    assert jobs == 3
    with SLURMCluster(**options, scheduler_options={"host": "127.0.0.1",
                                                    "dashboard_address": None}) as slurm:
        script = slurm.job_script()
    for line in ("#SBATCH -p cpu", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G",
                 "#SBATCH -t 01:00:00"):
        assert line in script
    assert "--nthreads 1" in script and "--nworkers 4" in script


def test_cli_executor_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "prepare", "lrs2", "--root", str(CORPUS / "lrs2"), "--out", str(tmp_path / "o"),
        "--mix-list", str(CORPUS / "lrs2"), "--skip-lips", "--executor", "dask-local:0", "-q"])
    assert result.exit_code == 1
    assert "dask-local:N needs N >= 1" in result.output
