"""Score a whole manifest split from a folder of estimates: resumable, parallel, baselines cached.

Estimates layout (what ``--estimates EST_DIR`` must hold): ``EST_DIR/<mixture_id>/s1.wav`` and
``EST_DIR/<mixture_id>/s2.wav``, the estimate of target s1 (resp. s2) of that mixture, at the
manifest's sample rate. Each estimate is scored against its own target (no permutation) unless
``permute=True`` (blind separators whose output order is arbitrary).

Output in ``OUT``: ``results.csv``, one row per (mixture, target) sorted by ``mixture_id, target``,
with the metric values, improvements, the mixture baselines (``mix_<metric>``), the number of
samples scored and a ``<column>_error`` reason for every failed value; ``summary.json`` with
mean, std, 95% bootstrap CI, n and n_failed per metric and the provenance stamp.

Resuming: mixtures are scored in chunks, the unit of work of the executor (``local``, or a
Dask cluster: ``avss_bench.core.executor``); each finished chunk is written atomically to
``OUT/.partial/`` by the task that scored it. A rerun with the same options skips finished
chunks' mixtures, and the final CSV is assembled from the chunk files and sorted, so an
interrupted-and-resumed run, or one on another executor, writes the same bytes as an
uninterrupted local one.

Baselines (SI-SNR and SDR of the unprocessed mixture) depend only on the split, so they are
cached in ``<cache>/<key>.csv`` (default ``OUT/../.baselines``), ``key`` hashing the manifest's
bytes and folder and the identity (path, size, mtime) of every mixture and reference wav it lists;
a second model scored on the same split reuses them, and rewritten mixtures are rescored.
The partial chunks are stamped with the options, the manifest's sha256 and the identity of the
estimate files, so a rerun after the estimates changed stops naming the difference; chunks
without that stamp (a kill -9 while the finished run removed ``.partial``) are never trusted.
Temp files that killed runs left beside the outputs and the cache are removed on start.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avss_bench.core.atomic import atomic_path, remove_dead_temp_files, write_text
from avss_bench.core.errors import AvssError
from avss_bench.core.executor import Executor, chunks, make_executor
from avss_bench.core.provenance import provenance
from avss_bench.io.audio import read_audio
from avss_bench.io.manifest import read_manifest, resolve_path
from avss_bench.metrics.bss_eval import FILTER_LENGTH
from avss_bench.metrics.summary import summarize
from avss_bench.metrics.utterance import (
    DEFAULT_METRICS,
    IMPROVED,
    check_metrics,
    mixture_baseline,
    output_keys,
    score_utterance,
)

TARGETS = ("s1", "s2")
KEY = ["mixture_id", "target"]
PARTIAL = ".partial"
BASELINE_VERSION = 1
CHUNK = 16


def estimate_path(estimates_dir: str | Path, mixture_id: str, target: str) -> Path:
    """Where the estimate of ``target`` (``s1``/``s2``) of a mixture is expected."""
    return Path(estimates_dir) / str(mixture_id) / f"{target}.wav"


def result_columns(metrics: Sequence[str]) -> list[str]:
    """Columns of results.csv for ``metrics`` (fixed order)."""
    keys = output_keys(metrics)
    base = [f"mix_{m}" for m in IMPROVED if m in metrics]
    errors = [f"{k}_error" for k in keys] + [f"{b}_error" for b in base]
    return KEY + keys + base + ["num_samples"] + errors


def files_identity(paths: Sequence[Path]) -> str:
    """sha256 over (path, size, mtime_ns) of ``paths``: changes when any file is rewritten."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = Path(path).stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _baseline_key(manifest_csv: Path, items: Sequence[dict[str, Any]]) -> str:
    """Cache key of a split's mixture baselines: the manifest and its mixture/reference files."""
    digest = hashlib.sha256()
    digest.update(manifest_csv.read_bytes())
    digest.update(str(manifest_csv.resolve().parent).encode())
    digest.update(f"v{BASELINE_VERSION} filter{FILTER_LENGTH}".encode())
    digest.update(files_identity([item[key] for item in items
                                  for key in ("mix_path", *(f"{t}_path" for t in TARGETS))])
                  .encode())
    return digest.hexdigest()[:20]


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in sorted({*old, *new}):
        if old.get(key) != new.get(key):
            return f"{key} was {json.dumps(old.get(key))}, now {json.dumps(new.get(key))}"
    return "no difference"


def _load_baselines(path: Path, metrics: Sequence[str]) -> dict[tuple[str, str], dict] | None:
    needed = [f"mix_{m}" for m in IMPROVED if m in metrics]
    if not needed or not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if any(col not in frame.columns for col in needed):
        return None
    table = {}
    for row in frame.itertuples(index=False):
        row = row._asdict()
        table[(row["mixture_id"], row["target"])] = {
            m: (float(row[f"mix_{m}"]) if row[f"mix_{m}"] != "" else float("nan"))
            for m in IMPROVED if m in metrics
        } | {f"{m}_error": (row.get(f"mix_{m}_error") or None) for m in IMPROVED if m in metrics}
    return table


def _write_atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _score_mixture(
    item: dict[str, Any],
    metrics: tuple[str, ...],
    trim: bool,
    permute: bool,
    cached: dict[tuple[str, str], dict] | None,
) -> list[dict[str, Any]]:
    """Rows for every target of one mixture (reads its wavs; AvssError for unreadable files)."""
    mixture_id = item["mixture_id"]
    mix, rate = read_audio(item["mix_path"])
    refs, rates, ests, est_rates = [], [], [], []
    for target in TARGETS:
        ref, ref_rate = read_audio(item[f"{target}_path"])
        est, est_rate = read_audio(item[f"{target}_est"])
        refs.append(ref)
        rates.append(ref_rate)
        ests.append(est)
        est_rates.append(est_rate)
    keys = output_keys(metrics)
    rows: list[dict[str, Any]] = []
    problems = [None] * len(TARGETS)
    for k in range(len(TARGETS)):
        if rates[k] != rate or est_rates[k] != rate:
            problems[k] = (f"sample rate mismatch (mixture {rate}, reference {rates[k]}, "
                           f"estimate {est_rates[k]} Hz)")
    groups = [list(range(len(TARGETS)))] if permute else [[k] for k in range(len(TARGETS))]
    scored: dict[int, dict] = {}
    for group in groups:
        if any(problems[k] for k in group):
            continue
        r = [refs[k] for k in group]
        e = [ests[k] for k in group]
        lengths = {mix.size, *(x.size for x in r), *(x.size for x in e)}
        if len(lengths) > 1 and not trim:
            for k in group:
                problems[k] = (f"length mismatch (mixture {mix.size}, reference {refs[k].size}, "
                               f"estimate {ests[k].size} samples; --trim cuts to the shortest)")
            continue
        n = min(lengths)
        m_cut = mix[:n]
        r_arr = np.stack([x[:n] for x in r])
        e_arr = np.stack([x[:n] for x in e])
        baseline = None
        if any(m in metrics for m in IMPROVED):
            if cached is not None and n == mix.size and all(
                (mixture_id, TARGETS[k]) in cached for k in group
            ):
                parts = [cached[(mixture_id, TARGETS[k])] for k in group]
                baseline = {key: [p[key] for p in parts] for key in parts[0]}
            else:
                baseline = mixture_baseline(m_cut, r_arr, metrics)
        out = score_utterance(e_arr, r_arr, m_cut, rate, metrics=metrics, permute=permute,
                              baseline=baseline)
        for pos, k in enumerate(group):
            target = out["targets"][pos]
            target["num_samples"] = n
            for m in IMPROVED:
                if m in metrics:
                    target[f"mix_{m}"] = baseline[m][pos]
                    target[f"mix_{m}_error"] = baseline.get(f"{m}_error", [None] * len(group))[pos]
            scored[k] = target
    for k, target in enumerate(TARGETS):
        row: dict[str, Any] = {"mixture_id": mixture_id, "target": target}
        if problems[k]:
            for key in keys:
                row[key] = float("nan")
                row[f"{key}_error"] = problems[k]
        else:
            row.update(scored[k])
        rows.append(row)
    return rows


def _score_chunk(partial: Path, columns: list[str], metrics: tuple[str, ...], trim: bool,
                 permute: bool, items: list[dict[str, Any]]) -> int:
    """The executor's task: score one chunk of mixtures and write its rows atomically to
    ``partial/part-<first index>.csv``; returns the number of rows. Deterministic, so any
    executor (local, Dask) writes the same bytes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rows = [row for item in items
                for row in _score_mixture(item, metrics, trim, permute, item["cached"])]
    first = min(item["index"] for item in items)
    _write_atomic_csv(pd.DataFrame(rows).reindex(columns=columns),
                      partial / f"part-{first:08d}.csv")
    return len(rows)


def _subset(cached: dict | None, mixture_id: str) -> dict | None:
    """The cached baselines of one mixture (what a worker needs to receive)."""
    if cached is None:
        return None
    return {(mixture_id, t): cached[(mixture_id, t)] for t in TARGETS
            if (mixture_id, t) in cached}


def score_split(
    manifest_csv: str | Path,
    estimates_dir: str | Path,
    out_dir: str | Path,
    jobs: int = 1,
    metrics: Sequence[str] = DEFAULT_METRICS,
    trim: bool = False,
    quiet: bool = False,
    permute: bool = False,
    baseline_cache: str | Path | None = None,
    chunk_size: int = CHUNK,
    executor: str | Executor | None = None,
) -> dict[str, Any]:
    """Score every (mixture, target) of a manifest split; returns what summary.json holds.

    Args:
        manifest_csv: the split's manifest (schema: manifests/README.md).
        estimates_dir: ``<mixture_id>/s1.wav``, ``<mixture_id>/s2.wav`` for every mixture.
        out_dir: where results.csv and summary.json go.
        jobs: worker processes of the ``local`` executor (joblib/loky, one BLAS/FFT thread
            each).
        metrics: any of ``si_snr, sdr, pesq, stoi, estoi``.
        trim: cut signals to the shortest instead of failing a length mismatch.
        quiet: no progress bar.
        permute: pick the estimate for each target by SI-SNR (blind separation).
        baseline_cache: folder of cached mixture baselines (default ``out_dir/../.baselines``).
        chunk_size: mixtures per atomically written chunk (the unit of work of the executor).
        executor: where the chunks are scored: ``local`` (default), ``dask-local:N``,
            ``dask://HOST:PORT``, ``slurm[:k=v,...]`` (``avss_bench.core.executor``) or an
            ``Executor`` (left open). Every executor writes the same bytes.

    Raises:
        AvssError: unreadable manifest, missing estimates (listed before any work starts),
            unreadable wav, or partial results from a run with other options.
    """
    metrics = check_metrics(metrics)
    manifest_csv = Path(manifest_csv)
    estimates_dir = Path(estimates_dir)
    out = Path(out_dir)
    frame = read_manifest(manifest_csv)
    if not estimates_dir.is_dir():
        raise AvssError("estimates folder not found", estimates_dir)
    items = []
    missing = []
    for row in frame.to_dict("records"):
        item = {"mixture_id": str(row["mixture_id"]),
                "mix_path": resolve_path(manifest_csv, row["mix_path"])}
        for target in TARGETS:
            item[f"{target}_path"] = resolve_path(manifest_csv, row[f"{target}_path"])
            est = estimate_path(estimates_dir, item["mixture_id"], target)
            item[f"{target}_est"] = est
            if not est.is_file():
                missing.append(est)
        items.append(item)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise AvssError(f"estimate not found{more}; expected EST_DIR/<mixture_id>/s1.wav, s2.wav",
                        missing[0])

    options = {"manifest": str(manifest_csv.resolve()), "estimates": str(estimates_dir.resolve()),
               "metrics": list(metrics), "trim": trim, "permute": permute,
               "filter_length": FILTER_LENGTH, "manifest_sha256":
               hashlib.sha256(manifest_csv.read_bytes()).hexdigest(),
               "estimates_identity": files_identity([item[f"{t}_est"] for item in items
                                                     for t in TARGETS])}
    partial = out / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(baseline_cache) if baseline_cache else out.resolve().parent / ".baselines"
    cache_file = cache_dir / f"{_baseline_key(manifest_csv, items)}.csv"
    remove_dead_temp_files(out, ("results.csv", "summary.json"))
    remove_dead_temp_files(partial)
    remove_dead_temp_files(cache_dir)
    stamp = partial / "options.json"
    if stamp.is_file():
        old = json.loads(stamp.read_text())
        if old != options:
            raise AvssError("partial results of another run are here "
                            f"({_first_difference(old, options)}); delete this folder or use "
                            "another --out", partial)
    else:  # chunks without the stamp they were written under cannot be trusted: redone
        for part in partial.glob("part-*.csv"):
            part.unlink()
        write_text(stamp, json.dumps(options, indent=1, sort_keys=True))
    cached = _load_baselines(cache_file, metrics)

    done: set[str] = set()
    for part in sorted(partial.glob("part-*.csv")):
        done.update(pd.read_csv(part, dtype=str, keep_default_na=False)["mixture_id"])
    todo = [item | {"index": i, "cached": _subset(cached, item["mixture_id"])}
            for i, item in enumerate(items) if item["mixture_id"] not in done]
    columns = result_columns(metrics)
    started = time.monotonic()
    runner = executor if executor is not None and not isinstance(executor, str) else None
    executor_name = getattr(runner, "name", executor or "local")
    if todo:
        _warm_up()
        runner = runner or make_executor(executor, jobs)
        try:
            runner.map_batches(_score_chunk, chunks(todo, chunk_size),
                               ((partial, columns, metrics, trim, permute), ()), "score", quiet)
        finally:
            if runner is not executor:
                runner.close()
    elapsed = time.monotonic() - started

    parts = [pd.read_csv(p, dtype=str, keep_default_na=False)
             for p in sorted(partial.glob("part-*.csv"))]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    table = table.reindex(columns=columns).sort_values(KEY, kind="stable").reset_index(drop=True)
    expected = len(items) * len(TARGETS)
    if len(table) != expected or table.duplicated(KEY).any():
        raise AvssError(f"partial results are inconsistent ({len(table)} rows for {expected}); "
                        "delete this folder and rerun", partial)
    _write_atomic_csv(table, out / "results.csv")

    if cached is None and any(m in metrics for m in IMPROVED):
        lengths = dict(zip(frame["mixture_id"].astype(str), frame["num_samples"].astype(str),
                           strict=True))
        full = table[table["num_samples"] == table["mixture_id"].map(lengths)]
        if len(full) == len(table):  # only a complete, untrimmed table is cached
            base_cols = KEY + [c for c in columns if c.startswith("mix_")]
            cache_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic_csv(table[base_cols], cache_file)

    numeric = table.copy()
    value_columns = output_keys(metrics)
    for col in value_columns:
        numeric[col] = pd.to_numeric(numeric[col], errors="coerce")
    summary = {
        "n_mixtures": len(items),
        "n_rows": len(table),
        "metrics": summarize(numeric, value_columns),
        "seconds": round(elapsed, 3),
        "rows_scored_this_run": len(todo) * len(TARGETS),
        "baselines": {"cache": str(cache_file), "reused": cached is not None},
        "provenance": provenance(options | {"jobs": jobs, "executor": executor_name}),
    }
    write_text(out / "summary.json", json.dumps(_jsonable(summary), indent=2))
    shutil.rmtree(partial, ignore_errors=True)
    return summary


def _jsonable(obj: Any) -> Any:
    """NaN/inf -> None so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _warm_up() -> None:
    """Compile (or load from numba's cache) the Levinson kernel once, before workers fork."""
    from avss_bench.metrics._levinson import block_toeplitz_quadform

    block_toeplitz_quadform(np.array([[[2.0]], [[1.0]]]), np.ones((2, 1, 1)))
