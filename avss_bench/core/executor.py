"""Where batch tasks run (`prepare`, `score --manifest`): the local process pool, or Dask.

An executor maps one deterministic batch function over batches of items and returns the
batches' results (lists of status records). The function writes its outputs itself, each
through `avss_bench.core.atomic` (written to a temp file, renamed into place complete), so the
bytes on disk do not depend on where or in which order the batches ran: `local`, `dask-local:N`,
`dask://HOST:PORT` and `slurm` write identical files.

Specs (`--executor`):

- `local` (default): `run_batches` below, `jobs` joblib processes (1: in this process).
- `dask://HOST:PORT` (or `tcp://HOST:PORT`): an existing Dask scheduler. The workers must see
  the corpus and OUT at the same paths (a shared file system) and have avss-bench installed.
- `dask-local:N`: a `distributed.LocalCluster` of N single-threaded worker processes; the
  scheduler, the workers and the dashboard (a free port) listen on 127.0.0.1 only. Started and
  closed with the run.
- `slurm` or `slurm:key=value,...`: a `dask_jobqueue.SLURMCluster`. Keys: `jobs` (Slurm jobs
  to start, default 1) and any `SLURMCluster` argument (`queue`, `cores`, `memory`,
  `walltime`, `processes`, `account`, ...); `config=PATH` reads the same keys from a YAML file
  (command-line keys win). Unset keys come from dask-jobqueue's own configuration
  (`~/.config/dask/jobqueue.yaml`). `processes` defaults to `cores`: one single-threaded worker
  process per core, as `dask-local`.

Faults: a Dask task whose worker dies is rescheduled by the scheduler (up to
`distributed.scheduler.allowed-failures` worker deaths, default 3); a task that raises is retried
`retries` times. Data problems (no face, corrupt clip) are not exceptions: the stage functions
return them as failure records, so they are recorded once and never retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from avss_bench.core.errors import AvssError
from avss_bench.core.numbers import Bounds, parse_number

RETRIES = 2  # re-runs of a task that raised (a worker's death is handled by the scheduler)


class Executor(Protocol):
    """Runs `fn(*args[0], batch, *args[1])` for every batch and returns the results (Dask: in
    the batches' order; local with jobs > 1: in completion order)."""

    name: str
    workers: int

    def map_batches(self, fn: Callable, batches: Sequence[Sequence], args: tuple, desc: str,
                    quiet: bool, weight: Callable[[Sequence], int] = len) -> list: ...

    def close(self) -> None: ...


class LocalExecutor:
    """The local joblib process pool (`jobs` processes; 1 runs in this process)."""

    def __init__(self, jobs: int = 1) -> None:
        self.name = "local"
        self.workers = max(1, int(jobs))

    def map_batches(self, fn: Callable, batches: Sequence[Sequence], args: tuple, desc: str,
                    quiet: bool, weight: Callable[[Sequence], int] = len) -> list:
        return run_batches(fn, batches, args, self.workers, desc, quiet, weight)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Batches as tasks of a Dask `distributed.Client`; the progress bar follows the tasks."""

    def __init__(self, client: Any, name: str, cluster: Any = None,
                 retries: int = RETRIES) -> None:
        self.client = client
        self.name = name
        self.cluster = cluster  # closed with the executor when we started it
        self.retries = retries

    @property
    def workers(self) -> int:
        """Worker threads now in the cluster (at least 1: a cluster may still be starting)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))

    def map_batches(self, fn: Callable, batches: Sequence[Sequence], args: tuple, desc: str,
                    quiet: bool, weight: Callable[[Sequence], int] = len) -> list:
        from distributed import as_completed
        from tqdm.auto import tqdm

        futures = {}
        for i, batch in enumerate(batches):
            fut = self.client.submit(_call, fn, args, batch, retries=self.retries, pure=False,
                                     key=f"{desc}-{i}-{_token()}")
            futures[fut] = i
        results: list = [None] * len(batches)
        total = sum(weight(b) for b in batches)
        with tqdm(total=total, desc=desc, unit="item", disable=quiet or total == 0,
                  leave=False) as bar:
            for fut in as_completed(list(futures)):
                i = futures.pop(fut)
                try:
                    results[i] = fut.result()
                except Exception as err:  # noqa: BLE001 - a task that kept failing
                    for other in futures:
                        other.cancel()
                    raise AvssError(f"{desc}: batch {i} failed on the cluster after "
                                    f"{self.retries} retries: {type(err).__name__}: {err}"
                                    ) from err
                fut.release()
                bar.update(weight(batches[i]))
        return results

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _call(fn: Callable, args: tuple, batch: Sequence) -> object:
    return fn(*args[0], batch, *args[1])


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


def _need_dask(spec: str) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise AvssError(f"--executor {spec} needs Dask (an avss-bench dependency): "
                        "pip install 'dask[distributed]' dask-jobqueue") from None


def check_executor_spec(spec: str | Executor | None) -> None:
    """Refuse a malformed `--executor` spec in one line, before any work (nothing is started
    or reached: an unreachable address is found by `make_executor`)."""
    if spec is None or spec == "local" or not isinstance(spec, str):
        return
    if spec.startswith(("dask://", "tcp://")):
        dask_address(spec)
    elif spec.startswith("dask-local:"):
        _dask_local_workers(spec)
    elif spec == "slurm" or spec.startswith("slurm:"):
        parse_slurm_spec(spec)
    else:
        raise AvssError("--executor must be local, dask://HOST:PORT, dask-local:N or "
                        f"slurm[:k=v,...], got '{spec}'")


def _dask_local_workers(spec: str) -> int:
    try:
        return int(parse_number(spec.split(":", 1)[1], "N", Bounds(1, 1024, integer=True)))
    except AvssError:
        raise AvssError("--executor dask-local:N needs N >= 1 worker processes (up to "
                        f"1024), got '{spec}'") from None


def make_executor(spec: str | Executor | None, jobs: int = 1) -> Executor:
    """An executor from its `--executor` spec (see the module docstring); `jobs` is for local."""
    if spec is None or spec == "local":
        return LocalExecutor(jobs)
    if not isinstance(spec, str):
        return spec
    check_executor_spec(spec)  # a malformed spec is an error before anything starts
    if spec.startswith(("dask://", "tcp://")):
        address = "tcp://" + dask_address(spec)
        _need_dask(spec)
        from distributed import Client

        try:
            client = Client(address, timeout="30s")
        except OSError as err:
            raise AvssError(f"--executor {spec}: cannot reach the Dask scheduler ({err})") \
                from None
        return DaskExecutor(client, spec)
    if spec.startswith("dask-local:"):
        _need_dask(spec)
        return _local_cluster(_dask_local_workers(spec), spec)
    _need_dask(spec)
    return _slurm_cluster(spec)


def dask_address(spec: str) -> str:
    """`dask://HOST:PORT` (or `tcp://HOST:PORT`) -> `HOST:PORT`, checked: a host and a port
    in 1..65535 (IPv6 hosts in brackets)."""
    rest = spec.split("://", 1)[1]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port or "/" in rest:
        raise AvssError(f"--executor dask://HOST:PORT needs a host and a port, got '{spec}'")
    try:
        parse_number(port, "PORT", Bounds(1, 65535, integer=True))
    except AvssError as err:
        raise AvssError(f"--executor dask://HOST:PORT: {err}, in '{spec}'") from None
    return rest


def _local_cluster(n: int, spec: str) -> DaskExecutor:
    """N single-threaded worker processes, everything on the loopback interface."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=40)
    client = Client(cluster)
    client.wait_for_workers(n)
    return DaskExecutor(client, spec, cluster)


def parse_slurm_spec(spec: str) -> tuple[int, dict]:
    """`slurm:jobs=4,queue=cpu,cores=16,...[,config=PATH]` -> (jobs, SLURMCluster kwargs)."""
    options: dict[str, Any] = {}
    given: dict[str, Any] = {}
    body = spec.split(":", 1)[1] if ":" in spec else ""
    for part in filter(None, body.split(",")):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise AvssError(f"--executor slurm options must be key=value, got '{part}'")
        given[key.strip()] = _scalar(value.strip())
    if "config" in given:
        import yaml

        path = Path(str(given.pop("config")))
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise AvssError(f"cannot read the Slurm cluster config: {err}", path) from None
        if not isinstance(loaded, dict):
            raise AvssError("the Slurm cluster config must be a mapping of options", path)
        options.update(loaded)
    options.update(given)
    try:
        jobs = int(parse_number(options.pop("jobs", 1), "jobs", Bounds(1, 10000, integer=True)))
        for key in SLURM_INTEGERS:
            if key in options:
                options[key] = int(parse_number(options[key], key, Bounds(1, 100000,
                                                                          integer=True)))
    except AvssError as err:
        raise AvssError(f"--executor slurm: {err}") from None
    if "cores" in options:  # single-threaded worker processes, like dask-local (MediaPipe, GIL)
        options.setdefault("processes", options["cores"])
    return jobs, options


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


#: Slurm settings that are counts (cores per job, worker processes per job).
SLURM_INTEGERS = ("cores", "processes")
#: Seconds to wait for dask-jobqueue to submit a job and report its id.
SUBMIT_TIMEOUT = 60.0


def _slurm_cluster(spec: str) -> DaskExecutor:
    """A dask-jobqueue SLURMCluster of `jobs` Slurm jobs (tests/test_slurm_executor.py runs it
    against a one-node cluster). Settings Slurm would refuse are one line before any work:
    no `sbatch` here, no cores or memory per job, an argument SLURMCluster does not take, or a
    job script `sbatch --test-only` rejects (partition, account, memory, time limit). While
    waiting for the first worker, jobs that end without one are an error, not a hang."""
    import shutil

    jobs, options = parse_slurm_spec(spec)
    try:
        import dask
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise AvssError("--executor slurm needs dask-jobqueue (an avss-bench "
                        "dependency): pip install dask-jobqueue") from None
    from distributed import Client

    missing = [key for key in ("cores", "memory")
               if key not in options and dask.config.get(f"jobqueue.slurm.{key}", None) is None]
    if missing:
        raise AvssError(f"--executor {spec}: give the {' and '.join(missing)} of each job, e.g. "
                        "slurm:cores=4,memory=8GB (or jobqueue.slurm.cores / memory in "
                        "~/.config/dask/jobqueue.yaml)")
    if shutil.which("sbatch") is None:
        raise AvssError(f"--executor {spec}: no sbatch on PATH (this machine is not a Slurm "
                        "submit host); use local or dask-local:N here")
    try:
        cluster = SLURMCluster(**options)
    except (TypeError, ValueError) as err:
        raise AvssError(f"--executor {spec}: {str(err).splitlines()[0]}") from None
    try:
        _test_job_script(cluster.job_script(), spec)
        cluster.scale(jobs=jobs)
        client = Client(cluster)
        _wait_for_a_worker(cluster, client, spec)
    except BaseException:
        cluster.close()
        raise
    return DaskExecutor(client, spec, cluster)


def _test_job_script(script: str, spec: str) -> None:
    """`sbatch --test-only` on the worker job script: Slurm's verdict without submitting."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="avss-slurm-") as handle:
        handle.write(script)
        handle.flush()
        try:
            done = subprocess.run(["sbatch", "--test-only", handle.name], capture_output=True,
                                  text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise AvssError(f"--executor {spec}: sbatch --test-only failed ({err})") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower()),
                      lines[-1] if lines else f"exit status {done.returncode}")
        raise AvssError(f"--executor {spec}: Slurm refuses the worker job: {reason.strip()}")


def _wait_for_a_worker(cluster: Any, client: Any, spec: str) -> None:
    """Wait until a worker joins while at least one of our jobs is queued or running."""
    import subprocess
    import time

    started = time.monotonic()
    while True:
        try:
            client.wait_for_workers(1, timeout=2)
            return
        except TimeoutError:
            pass
        ids = [str(job.job_id) for job in cluster.workers.values()
               if getattr(job, "job_id", None)]
        if not ids:
            if time.monotonic() - started > SUBMIT_TIMEOUT:
                raise AvssError(f"--executor {spec}: no Slurm job was submitted within "
                                f"{SUBMIT_TIMEOUT:.0f} s")
            continue
        try:
            alive = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)],
                                   capture_output=True, text=True, timeout=60,
                                   check=False).stdout.split()
        except (OSError, subprocess.TimeoutExpired) as err:
            raise AvssError(f"--executor {spec}: squeue failed ({err})") from None
        if not alive:
            raise AvssError(f"--executor {spec}: Slurm job(s) {', '.join(ids)} ended before a "
                            "Dask worker joined; their output is in slurm-<job id>.out (or "
                            "log_directory)")


def closing_executor(fn: Callable) -> Callable:
    """Decorate a function with `jobs` and `executor` parameters: a spec (str or None) becomes
    an `Executor` for the call and is closed after it (a given `Executor` is left open)."""
    import functools
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        spec = bound.arguments["executor"]
        if spec is not None and not isinstance(spec, str):
            return fn(*bound.args, **bound.kwargs)
        executor = make_executor(spec, bound.arguments["jobs"])
        bound.arguments["executor"] = executor
        try:
            return fn(*bound.args, **bound.kwargs)
        finally:
            executor.close()

    return wrapper


def chunks(items: Sequence, size: int) -> list[Sequence]:
    """`items` cut into consecutive batches of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_batches(fn: Callable, batches: Sequence[Sequence], args: tuple, jobs: int,
                 desc: str, quiet: bool, weight: Callable[[Sequence], int] = len) -> list:
    """Run `fn(*args[0], batch, *args[1])` for every batch, in `jobs` joblib processes when
    jobs > 1 (results then in completion order); one progress bar weighted by `weight`."""
    from tqdm.auto import tqdm

    results: list = []
    total = sum(weight(b) for b in batches)
    with tqdm(total=total, desc=desc, unit="item", disable=quiet or total == 0,
              leave=False) as bar:
        if jobs <= 1 or len(batches) <= 1:
            for batch in batches:
                results.append(fn(*args[0], batch, *args[1]))
                bar.update(weight(batch))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=jobs, return_as="generator_unordered")
            for batch, result in run(delayed(_tagged)(fn, args, b) for b in batches):
                results.append(result)
                bar.update(weight(batch))
    return results


def _tagged(fn: Callable, args: tuple, batch: Sequence) -> tuple[Sequence, object]:
    return batch, fn(*args[0], batch, *args[1])
