"""Score a whole manifest split from a folder of estimates (`score --manifest`): resumable,
parallel, baselines cached; its folder, stamp, resume and summary are `evaluate`'s
(`evaluate.results`).

Estimates layout (what ``--estimates EST_DIR`` must hold): ``EST_DIR/<mixture_id>/s{k}.wav``
for every target ``s{k}`` the manifest gives that mixture (s1, s2; s3, ... on an N-speaker
corpus), at the manifest's sample rate. Each estimate is scored against its own target (no
permutation) unless ``permute=True`` (blind separators whose output order is arbitrary).

Output in ``OUT``: ``results.csv``, one row per (mixture, target) sorted by ``mixture_id,
target``, with the metric values, improvements, the mixture baselines (``mix_<metric>``), the
number of samples scored and a ``<column>_error`` reason for every failed value;
``summary.json`` in the results layer's shape; ``score.stamp.json``.

Resuming: mixtures are scored in chunks, the unit of work of the executor (``local``, or a
Dask cluster: ``avss_bench.core.executor``); each finished chunk is written atomically to
``OUT/.partial/`` by the task that scored it. A rerun under the same stamp (options, the
manifest's sha256, the identity of its mixture and reference wavs and of the estimates) skips
finished chunks' mixtures, and the final CSV is assembled from the chunk files and sorted, so an
interrupted-and-resumed run, or one on another executor, writes the same bytes as an
uninterrupted local one. A rerun under another stamp stops naming the difference.

Baselines (the improvement metrics of the unprocessed mixture) depend only on the split, so
they are cached in ``<cache>/<key>.csv`` (default ``OUT/../.baselines``), ``key`` hashing the
manifest's bytes and folder and the identity (path, size, mtime) of every mixture and reference
wav it lists; a second model scored on the same split reuses them, and rewritten mixtures are
rescored. Temp files that killed runs left beside the outputs and the cache are removed on
start.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avss_bench.core.atomic import atomic_path, remove_dead_temp_files
from avss_bench.core.errors import AvssError
from avss_bench.core.executor import Executor, chunks, make_executor
from avss_bench.core.hashing import files_identity
from avss_bench.evaluate import results
from avss_bench.io.audio import read_audio
from avss_bench.io.manifest import read_manifest, resolve_path, row_targets, speaker_count
from avss_bench.metrics.bss_eval import FILTER_LENGTH
from avss_bench.metrics.registry import metric_registry
from avss_bench.metrics.utterance import mixture_baseline, score_utterance

VERB = "score"
BASELINE_VERSION = 1
CHUNK = 16


def estimate_path(estimates_dir: str | Path, mixture_id: str, target: str) -> Path:
    """Where the estimate of ``target`` (``s1``, ``s2``, ...) of a mixture is expected."""
    return Path(estimates_dir) / str(mixture_id) / f"{target}.wav"


def result_columns(metrics: Sequence[str]) -> list[str]:
    """Columns of results.csv for ``metrics`` (fixed order)."""
    base = [f"mix_{name}" for name in _improved(metrics)]
    return results.result_columns(metrics, [*base, "num_samples"], base)


def _improved(metrics: Sequence[str]) -> list[str]:
    return [m.name for m in metric_registry.chosen(metrics) if m.improvement]


def _baseline_key(manifest_csv: Path, items: Sequence[dict[str, Any]]) -> str:
    """Cache key of a split's mixture baselines: the manifest and its mixture/reference files."""
    digest = hashlib.sha256()
    digest.update(manifest_csv.read_bytes())
    digest.update(str(manifest_csv.resolve().parent).encode())
    digest.update(f"v{BASELINE_VERSION} filter{FILTER_LENGTH}".encode())
    digest.update(files_identity(_data_files(items)).encode())
    return digest.hexdigest()[:20]


def _data_files(items: Sequence[dict[str, Any]]) -> list[Path]:
    return [item[key] for item in items
            for key in ("mix_path", *(f"{t}_path" for t in item["targets"]))]


def _load_baselines(path: Path, metrics: Sequence[str]) -> dict[tuple[str, str], dict] | None:
    improved = _improved(metrics)
    if not improved or not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if any(f"mix_{name}" not in frame.columns for name in improved):
        return None
    table = {}
    for row in frame.itertuples(index=False):
        row = row._asdict()
        table[(row["mixture_id"], row["target"])] = {
            name: (float(row[f"mix_{name}"]) if row[f"mix_{name}"] != "" else float("nan"))
            for name in improved
        } | {f"{name}_error": (row.get(f"mix_{name}_error") or None) for name in improved}
    return table


def _score_mixture(
    item: dict[str, Any],
    metrics: tuple[str, ...],
    trim: bool,
    permute: bool,
    cached: dict[tuple[str, str], dict] | None,
) -> list[dict[str, Any]]:
    """Rows for every target of one mixture (reads its wavs; AvssError for unreadable files)."""
    mixture_id, targets = item["mixture_id"], item["targets"]
    improved = _improved(metrics)
    mix, rate = read_audio(item["mix_path"])
    refs, rates, ests, est_rates = [], [], [], []
    for target in targets:
        ref, ref_rate = read_audio(item[f"{target}_path"])
        est, est_rate = read_audio(item[f"{target}_est"])
        refs.append(ref)
        rates.append(ref_rate)
        ests.append(est)
        est_rates.append(est_rate)
    keys = metric_registry.keys(metrics)
    rows: list[dict[str, Any]] = []
    problems: list[str | None] = [None] * len(targets)
    for k in range(len(targets)):
        if rates[k] != rate or est_rates[k] != rate:
            problems[k] = (f"sample rate mismatch (mixture {rate}, reference {rates[k]}, "
                           f"estimate {est_rates[k]} Hz)")
    groups = [list(range(len(targets)))] if permute else [[k] for k in range(len(targets))]
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
        if improved:
            if cached is not None and n == mix.size and all(
                (mixture_id, targets[k]) in cached for k in group
            ):
                parts = [cached[(mixture_id, targets[k])] for k in group]
                baseline = {key: [p[key] for p in parts] for key in parts[0]}
            else:
                baseline = mixture_baseline(m_cut, r_arr, rate, improved)
        out = score_utterance(e_arr, r_arr, m_cut, rate, metrics=metrics, permute=permute,
                              baseline=baseline)
        for pos, k in enumerate(group):
            target = out["targets"][pos]
            target["num_samples"] = n
            for name in improved:
                target[f"mix_{name}"] = baseline[name][pos]
                target[f"mix_{name}_error"] = baseline.get(f"{name}_error",
                                                           [None] * len(group))[pos]
            scored[k] = target
    for k, target in enumerate(targets):
        row: dict[str, Any] = {"mixture_id": mixture_id, "target": target}
        if problems[k]:
            for key in keys:
                row[key] = float("nan")
                row[f"{key}_error"] = problems[k]
        else:
            row.update(scored[k])
        rows.append(row)
    return rows


def _score_chunk(partial: results.Partial, metrics: tuple[str, ...], trim: bool,
                 permute: bool, items: list[dict[str, Any]]) -> int:
    """The executor's task: score one chunk of mixtures and write its rows atomically to the
    partial results; returns the number of rows. Deterministic, so any executor (local, Dask)
    writes the same bytes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rows = [row for item in items
                for row in _score_mixture(item, metrics, trim, permute, item["cached"])]
    partial.write(min(item["index"] for item in items), rows)
    return len(rows)


def _subset(cached: dict | None, item: dict[str, Any]) -> dict | None:
    """The cached baselines of one mixture (what a worker needs to receive)."""
    if cached is None:
        return None
    return {(item["mixture_id"], t): cached[(item["mixture_id"], t)] for t in item["targets"]
            if (item["mixture_id"], t) in cached}


def _items(manifest_csv: Path, estimates_dir: Path) -> list[dict[str, Any]]:
    """One item per mixture: its wavs and the estimates it needs (all of them checked first)."""
    frame = read_manifest(manifest_csv)
    count = speaker_count(frame)
    items, missing = [], []
    for row in frame.to_dict("records"):
        item = {"mixture_id": str(row["mixture_id"]),
                "mix_path": resolve_path(manifest_csv, row["mix_path"]),
                "targets": row_targets(row, count)}
        for target in item["targets"]:
            item[f"{target}_path"] = resolve_path(manifest_csv, row[f"{target}_path"])
            est = estimate_path(estimates_dir, item["mixture_id"], target)
            item[f"{target}_est"] = est
            if not est.is_file():
                missing.append(est)
        items.append(item)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        layout = ", ".join(f"s{k}.wav" for k in range(1, count + 1))
        raise AvssError(f"estimate not found{more}; expected EST_DIR/<mixture_id>/{layout}",
                        missing[0])
    return items


def score_split(
    manifest_csv: str | Path,
    estimates_dir: str | Path,
    out_dir: str | Path,
    jobs: int = 1,
    metrics: Sequence[str] | None = None,
    trim: bool = False,
    quiet: bool = False,
    permute: bool = False,
    baseline_cache: str | Path | None = None,
    chunk_size: int = CHUNK,
    executor: str | Executor | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Score every (mixture, target) of a manifest split; returns what summary.json holds.

    Args:
        manifest_csv: the split's manifest (schema: manifests/README.md; N speakers).
        estimates_dir: ``<mixture_id>/s{k}.wav`` for every target of every mixture.
        out_dir: where results.csv and summary.json go.
        jobs: worker processes of the ``local`` executor (joblib/loky, one BLAS/FFT thread
            each).
        metrics: names in the metric registry (default: its default set).
        trim: cut signals to the shortest instead of failing a length mismatch.
        quiet: no progress bar.
        permute: pick the estimate for each target by SI-SNR (blind separation).
        baseline_cache: folder of cached mixture baselines (default ``out_dir/../.baselines``).
        chunk_size: mixtures per atomically written chunk (the unit of work of the executor).
        executor: where the chunks are scored: ``local`` (default), ``dask-local:N``,
            ``dask://HOST:PORT``, ``slurm[:k=v,...]`` (``avss_bench.core.executor``) or an
            ``Executor`` (left open). Every executor writes the same bytes.
        overwrite: remove this folder's earlier results instead of refusing another run's.

    Raises:
        AvssError: unknown metric, unreadable manifest, missing estimates (listed before any
            work starts), unreadable wav, or a folder holding another run's results.
    """
    metrics = metric_registry.defaults() if metrics is None else metric_registry.check(metrics)
    manifest_csv = Path(manifest_csv)
    estimates_dir = Path(estimates_dir)
    out = Path(out_dir)
    if not estimates_dir.is_dir():
        read_manifest(manifest_csv)  # a bad manifest is named first
        raise AvssError("estimates folder not found", estimates_dir)
    items = _items(manifest_csv, estimates_dir)
    test_set = results.test_set_of(manifest_csv)
    options = {"metrics": list(metrics), "trim": trim, "permute": permute,
               "filter_length": FILTER_LENGTH}
    stamp = {"options": options,
             "data": results.data_stamp(manifest_csv, _data_files(items)),
             "estimates": {"folder": str(estimates_dir.resolve()), "files": files_identity(
                 [item[f"{t}_est"] for item in items for t in item["targets"]])}}
    cache_dir = Path(baseline_cache) if baseline_cache else out.resolve().parent / ".baselines"
    cache_file = cache_dir / f"{_baseline_key(manifest_csv, items)}.csv"
    results.check_folder(out, stamp, VERB, overwrite)
    results.write_stamp(out, stamp, VERB)
    remove_dead_temp_files(cache_dir)
    cached = _load_baselines(cache_file, metrics)

    columns = result_columns(metrics)
    partial = results.Partial.of(out, columns)
    done = partial.done()
    todo = [item | {"index": i, "cached": _subset(cached, item)}
            for i, item in enumerate(items)
            if (item["mixture_id"], item["targets"][0]) not in done]
    started = time.monotonic()
    runner = executor if executor is not None and not isinstance(executor, str) else None
    executor_name = getattr(runner, "name", executor or "local")
    if todo:
        _warm_up()
        runner = runner or make_executor(executor, jobs)
        try:
            runner.map_batches(_score_chunk, chunks(todo, chunk_size),
                               ((partial, metrics, trim, permute), ()), "score", quiet)
        finally:
            if runner is not executor:
                runner.close()
    elapsed = time.monotonic() - started
    table = partial.finish(out, sum(len(item["targets"]) for item in items))

    if cached is None and _improved(metrics):
        lengths = {item["mixture_id"]: str(n) for item, n in zip(
            items, read_manifest(manifest_csv)["num_samples"].astype(str), strict=True)}
        if (table["num_samples"] == table["mixture_id"].map(lengths)).all():
            # only a complete, untrimmed table is cached
            base_cols = list(results.KEY) + [c for c in columns if c.startswith("mix_")]
            with atomic_path(cache_file) as tmp:
                table[base_cols].to_csv(tmp, index=False)

    summary = results.build_summary(
        VERB, manifest=manifest_csv, split=manifest_csv.stem,
        data=manifest_csv.resolve().parent.parent, dataset=test_set["label"],
        test_set=test_set, table=table, metrics=metrics, stamp=stamp,
        options=options | {"jobs": jobs, "executor": executor_name}, seconds=elapsed,
        estimates=str(estimates_dir.resolve()),
        rows_scored_this_run=sum(len(item["targets"]) for item in todo),
        baselines={"cache": str(cache_file), "reused": cached is not None})
    results.write_summary(out, summary)
    partial.clear()
    return results.jsonable(summary)


def _warm_up() -> None:
    """Compile (or load from numba's cache) the Levinson kernel once, before workers fork."""
    from avss_bench.metrics._levinson import block_toeplitz_quadform

    block_toeplitz_quadform(np.array([[[2.0]], [[1.0]]]), np.ones((2, 1, 1)))
