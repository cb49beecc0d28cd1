"""`score --manifest --executor`: a 2-worker Dask cluster on the loopback interface scores a split
into the bytes of a local run (results.csv, summary.json but for timing and provenance, the
baseline cache), and a run interrupted locally resumes on the cluster with the same bytes.

One `dask-local:2` cluster is shared by the tests (starting one and importing the metrics in its
workers takes seconds); the CLI reaches it by its address (`--executor dask://HOST:PORT`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from interrupt_helpers import interrupt_scoring_after
from test_score_cli import SPLIT_CASES, _make_split

from avss_bench.cli import main
from avss_bench.core.executor import DaskExecutor, make_executor
from avss_bench.evaluate.scoring import CHUNK, score_split

COPIES = 3  # 6 fixture cases x 3 = 18 mixtures: two chunks at the default chunk size


def _big_split(root: Path) -> tuple[Path, Path]:
    """The fixture split of test_score_cli with every mixture listed COPIES times (new ids)."""
    manifest, est_dir = _make_split(root)
    frame = pd.read_csv(manifest)
    rows = []
    for copy in range(COPIES):
        for row in frame.to_dict("records"):
            new_id = f"{row['mixture_id']}_r{copy}"
            shutil.copytree(est_dir / row["mixture_id"], est_dir / new_id)
            rows.append(row | {"mixture_id": new_id})
    pd.DataFrame(rows).to_csv(manifest, index=False)
    assert len(rows) > CHUNK
    return manifest, est_dir


def _score(manifest: Path, est_dir: Path, out: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, ["score", "--manifest", str(manifest), "--estimates",
                                       str(est_dir), "--out", str(out), "--quiet", "--json",
                                       *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())


def _comparable(summary: dict) -> dict:
    """summary.json without what differs between runs by design (timing, provenance, paths)."""
    rest = {k: v for k, v in summary.items() if k not in ("seconds", "provenance", "baselines")}
    return rest | {"baselines": {"cache": Path(summary["baselines"]["cache"]).name,
                                 "reused": summary["baselines"]["reused"]}}


@pytest.fixture(scope="module")
def cluster() -> DaskExecutor:
    executor = make_executor("dask-local:2")
    assert isinstance(executor, DaskExecutor) and executor.workers == 2
    yield executor
    executor.close()


def test_cli_dask_scores_the_bytes_of_a_local_run(tmp_path: Path, cluster: DaskExecutor) -> None:
    manifest, est_dir = _big_split(tmp_path)
    metrics = ("--metrics", "si_snr,sdr,pesq")  # STOI: in the resume test below
    local = _score(manifest, est_dir, tmp_path / "local" / "res", *metrics)
    address = "dask://" + cluster.client.scheduler.address.split("://", 1)[1]
    dask = _score(manifest, est_dir, tmp_path / "dask" / "res", *metrics, "--executor", address)
    assert local["provenance"]["options"]["executor"] == "local"
    assert dask["provenance"]["options"]["executor"] == address
    assert dask["num_targets"] == 2 * len(SPLIT_CASES) * COPIES
    assert dask["metrics"]["pesq"]["n_failed"] == COPIES  # the silent reference, each copy
    assert _comparable(dask) == _comparable(local)
    local_csv = (tmp_path / "local" / "res" / "results.csv").read_bytes()
    assert (tmp_path / "dask" / "res" / "results.csv").read_bytes() == local_csv
    cache = Path(local["baselines"]["cache"]).name
    assert (tmp_path / "dask" / ".baselines" / cache).read_bytes() == \
        (tmp_path / "local" / ".baselines" / cache).read_bytes()
    assert not (tmp_path / "dask" / "res" / ".partial").exists()


def test_interrupted_local_run_resumes_on_the_cluster(tmp_path: Path, monkeypatch,
                                                     cluster: DaskExecutor) -> None:
    """Chunks of one mixture each: both workers score; the bytes equal an uninterrupted run."""
    manifest, est_dir = _make_split(tmp_path)
    metrics = ("si_snr", "sdr", "stoi")
    reference = score_split(manifest, est_dir, tmp_path / "a" / "res", quiet=True,
                            metrics=metrics, chunk_size=1)
    out = tmp_path / "b" / "res"
    interrupt_scoring_after(monkeypatch, 2, lambda: score_split(
        manifest, est_dir, out, quiet=True, metrics=metrics, chunk_size=1))
    assert len(list((out / ".partial").glob("part-*.csv"))) == 2

    from distributed import get_task_stream

    with get_task_stream(cluster.client) as stream:
        resumed = score_split(manifest, est_dir, out, quiet=True, metrics=metrics, chunk_size=1,
                              executor=cluster)
    tasks = [t for t in stream.data if str(t["key"]).startswith("score-")]
    assert len(tasks) == len(SPLIT_CASES) - 2
    assert len({t["worker"] for t in tasks}) == 2  # both workers scored chunks
    assert cluster.client.submit(sum, [1, 2]).result() == 3  # a given executor stays open
    assert resumed["rows_scored_this_run"] == 2 * (len(SPLIT_CASES) - 2)
    assert resumed["provenance"]["options"]["executor"] == "dask-local:2"
    assert (out / "results.csv").read_bytes() == \
        (tmp_path / "a" / "res" / "results.csv").read_bytes()
    assert _comparable(resumed) | {"rows_scored_this_run": 0} == \
        _comparable(reference) | {"rows_scored_this_run": 0}
