"""Scale-out of `prepare` over Dask: throughput with 1 and 2 workers, per-task overheads.

1. Prepares the shared LRS2 miniature with lip ROIs (the stage that is ~98 % of the work) with
   `--executor local` (1 process), `dask-local:1` and `dask-local:2`, each into a fresh folder,
   twice with the same workers (cold: fresh processes import everything and load the
   landmarker; warm: steady state) and reports the cluster's start-up time, the cold run's total,
   and for the warm run per stage the wall time, the lip clips/s and frames/s and the workers'
   CPU seconds (psutil, summed over the worker processes; for `local` the whole process). Every
   run's files are checked byte-identical to the local run.
2. Per-task overheads on a 2-worker cluster:
   * scheduling: 400 no-op tasks submitted at once (per-task cost at throughput), and 50
     sequential submit -> result round trips (latency);
   * serialisation: cloudpickle dump + load of one lip task (function, arguments, a batch of 16
     utterances) and of its result records, with their sizes;
   * file I/O: per lip clip, the atomic npz write + status record, and the resume check that
     reads them back (`lips_done`), on this machine's local disk.

    python benchmarks/scale_out.py [--corpus ../shared/data/corpus] [--repeats 1]

The projection to 64 and 512 cores is written in benchmarks/README.md ("Scale-out").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def tree_hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "report.json"}


def _cpu_seconds() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def worker_cpu(executor) -> float:
    """CPU seconds of the executor's worker processes (this process for `local`, jobs=1)."""
    if getattr(executor, "client", None) is None:
        return _cpu_seconds()
    return sum(executor.client.run(_cpu_seconds).values())


def noop(x: int) -> int:
    return x


def prepare_once(spec: str, corpus: Path, landmarker: Path, out: Path) -> dict:
    """A cold run (fresh workers: imports, landmarker) then a warm one into another folder."""
    from avss_bench.core.executor import make_executor
    from avss_bench.prepare import prepare_corpus

    def prepare(where: Path) -> dict:
        return prepare_corpus("lrs2", corpus / "lrs2", where, mix_list=corpus / "lrs2",
                              landmarker=landmarker, quiet=True, executor=executor)

    t0 = time.perf_counter()
    executor = make_executor(spec, 1)
    startup = time.perf_counter() - t0
    try:
        cold = prepare(out / "cold")
        cpu0 = worker_cpu(executor)
        report = prepare(out / "warm")
        cpu = worker_cpu(executor) - cpu0
    finally:
        executor.close()
    lips_ok = report["utterances"]["lips_ok"]
    return dict(spec=spec, startup=startup, cold=cold["timings_s"]["total"],
                timings=report["timings_s"], lips_ok=lips_ok, frames=lips_ok * 50, cpu=cpu,
                hashes=tree_hashes(out / "warm"), cold_hashes=tree_hashes(out / "cold"))


def scheduling_overheads() -> dict:
    from avss_bench.core.executor import make_executor

    executor = make_executor("dask-local:2")
    client = executor.client
    try:
        client.gather(client.map(noop, range(20), pure=False))  # warm up
        t0 = time.perf_counter()
        futures = client.map(noop, range(400), pure=False)
        client.gather(futures)
        per_task = (time.perf_counter() - t0) / 400
        del futures
        lat = []
        for i in range(50):
            t0 = time.perf_counter()
            client.submit(noop, i, pure=False).result()
            lat.append(time.perf_counter() - t0)
    finally:
        executor.close()
    return dict(per_task_ms=per_task * 1e3, latency_ms=statistics.median(lat) * 1e3)


def serialisation_and_io(corpus: Path, prepared: Path) -> dict:
    import cloudpickle
    import numpy as np

    from avss_bench.corpora.registry import get_corpus
    from avss_bench.prepare.lip_rois import lips_batch, lips_done
    from avss_bench.prepare.records import Layout, save_lips, write_json_record

    corp = get_corpus("lrs2", corpus / "lrs2")
    layout = Layout(prepared)
    utts = sorted(p.stem for p in layout.out.joinpath("lips").glob("*.npz"))
    located = [corp.locate(u) for u in utts]
    batch = [(u, 32000) for u in located if u is not None]
    batch = (batch * 16)[:16]
    task = (lips_batch, ((str(corp.root),), (str(prepared), None)), batch)
    records = [{"utt": u.utt, "media": u.video, "ok": True, "frames": 50} for u, _ in batch]
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        blob = cloudpickle.loads(cloudpickle.dumps(task))
    task_us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        back = cloudpickle.loads(cloudpickle.dumps(records))
    result_us = (time.perf_counter() - t0) / n * 1e6
    assert back == records and len(blob[2]) == 16
    rois = np.load(layout.lips(utts[0]))["data"]
    scratch = Path(tempfile.mkdtemp(prefix="scale_out_io_"))
    try:
        scratch_layout = Layout(scratch)
        scratch_layout.lips("u0").parent.mkdir(parents=True, exist_ok=True)
        scratch_layout.status("lips", "u0").parent.mkdir(parents=True, exist_ok=True)
        writes, reads = [], []
        for i in range(50):
            utt = f"u{i}"
            t0 = time.perf_counter()
            save_lips(scratch_layout.lips(utt), rois)
            write_json_record(scratch_layout.status("lips", utt),
                              {"utt": utt, "media": "x", "ok": True, "frames": int(len(rois))})
            writes.append(time.perf_counter() - t0)
        for i in range(50):
            t0 = time.perf_counter()
            assert lips_done(scratch_layout, f"u{i}") is not None
            reads.append(time.perf_counter() - t0)
        npz_bytes = scratch_layout.lips("u0").stat().st_size
    finally:
        shutil.rmtree(scratch)
    return dict(task_bytes=len(cloudpickle.dumps(task)), task_us=task_us,
                result_bytes=len(cloudpickle.dumps(records)), result_us=result_us,
                write_ms=statistics.median(writes) * 1e3, read_ms=statistics.median(reads) * 1e3,
                npz_kb=npz_bytes / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--landmarker", type=Path,
                        default=SHARED / "models" / "face_landmarker.task")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(tempfile.mkdtemp(prefix="scale_out_"))
    try:
        runs = [prepare_once(spec, args.corpus, args.landmarker, work / spec.replace(":", "-"))
                for spec in ("local", "dask-local:1", "dask-local:2")]
        identical = all(r["hashes"] == runs[0]["hashes"] == r["cold_hashes"] for r in runs)
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}; outputs byte-identical across executors: {identical}")
        print("| executor | cluster start s | cold run s | warm run: sources s | lips s | mix s "
              "| total s | lip clips/s | lip frames/s (wall) | worker CPU s "
              "| lip frames per worker-CPU-s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in runs:
            t = r["timings"]
            print(f"| {r['spec']} | {r['startup']:.1f} | {r['cold']:.1f} | {t['sources']:.2f} | "
                  f"{t['lips']:.2f} | "
                  f"{t['mix']:.2f} | {t['total']:.2f} | {r['lips_ok'] / t['lips']:.2f} | "
                  f"{r['frames'] / t['lips']:.1f} | {r['cpu']:.1f} | "
                  f"{r['frames'] / max(r['cpu'], 1e-9):.1f} |")
        sched = scheduling_overheads()
        ser = serialisation_and_io(args.corpus, work / "local" / "warm")
        print(f"scheduling (2 workers): {sched['per_task_ms']:.2f} ms per no-op task at "
              f"throughput, {sched['latency_ms']:.2f} ms submit->result latency")
        print(f"serialisation: lip task of 16 clips {ser['task_bytes']} B, dump+load "
              f"{ser['task_us']:.0f} us; its 16 result records {ser['result_bytes']} B, "
              f"{ser['result_us']:.0f} us")
        print(f"file I/O per lip clip: npz ({ser['npz_kb']:.0f} KiB) + status record written "
              f"atomically {ser['write_ms']:.2f} ms; resume check (read back) "
              f"{ser['read_ms']:.2f} ms")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
