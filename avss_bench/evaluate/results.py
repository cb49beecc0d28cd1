"""The results layer shared by `evaluate` and `score --manifest`: one folder layout, one stamp,
one partial-results resume, one results.csv reader, one summary.json shape, writer and reader.

A results folder holds::

    <verb>.stamp.json   what made it (written before the first row; `verb` is evaluate or score)
    .partial/           finished chunks of an unfinished run: part-<first index>.csv, each
                        written atomically by whoever scored it (this process, a Dask worker,
                        a torchrun rank); the rows of a chunk are never torn
    results.csv         one row per (mixture, target), sorted: metric values, then the run's
                        own columns, then a `<column>_error` reason for every failed value
    summary.json        the shape below

A rerun resumes only under an equal stamp: it scores what no chunk holds and assembles the same
bytes as an uninterrupted run. Another stamp stops with one line naming the first difference
(`--overwrite` starts over); chunks without a stamp are of no known run and are removed.

summary.json (strict JSON: NaN and infinities are written as null)::

    {"kind": "evaluate" | "score",
     "model", "model_target", "model_package": {"name", "version"}, "name", "dataset",
     "test_set": TestSet record (avss_bench.io.testset) or null,
     "split", "data", "manifest", "num_mixtures", "num_targets",
     "metrics": {key: {"mean", "std", "ci95": [low, high], "n", "n_failed", "failures"}},
     ... what the verb adds (evaluate: "checkpoint", "checkpoint_sha256", "random_init",
         "lip_rows", "visual_condition", "config", "params_separator",
         "target_absent_leak_db", "world_size"; score: "estimates", "rows_scored_this_run",
         "baselines"),
     "seconds", "command", "stamp": {...},
     "provenance": {"avss_bench_version", "git_commit", "library_versions", "platform",
                    "options"}}

`score` knows no model: its model fields are null.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from avss_bench.core.atomic import atomic_path, remove_dead_temp_files, write_text
from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import files_identity, sha256_of
from avss_bench.core.provenance import first_mismatch, provenance

SUMMARY = "summary.json"
RESULTS = "results.csv"
PARTIAL = ".partial"
KEY = ("mixture_id", "target")


# ---------------------------------------------------------------- summary.json
def jsonable(obj: Any) -> Any:
    """NaN and infinities -> None, recursively, so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_summary(folder: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``folder/summary.json`` atomically, as strict JSON."""
    path = Path(folder) / SUMMARY
    write_text(path, json.dumps(jsonable(summary), indent=2, default=str) + "\n")
    return path


def read_summary(path: str | Path) -> dict[str, Any]:
    """A summary.json as a dict; anything else is one line naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AvssError("no summary.json here (run `avss-bench evaluate` first)", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AvssError(f"cannot read evaluation summary: {err}", path) from err
    if not isinstance(data, dict):
        raise AvssError("is not an evaluation summary (a JSON object is expected)", path)
    return data


def build_summary(kind: str, *, manifest: Path, split: str, data: Path, dataset: str | None,
            test_set: dict[str, Any] | None, table: pd.DataFrame, metrics: Sequence[str],
            stamp: dict[str, Any], options: dict[str, Any], seconds: float,
            model: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The summary.json of a finished run (see the module docstring for the shape).

    Args:
        table: results.csv as written (values as text); summarised over the metric columns.
        metrics: the registry names scored.
        model: ``model``, ``model_target``, ``model_package`` and ``name`` (None: all null).
        fields: what the verb adds, in order, before ``seconds``.
    """
    from avss_bench.metrics.registry import metric_registry
    from avss_bench.metrics.summary import summarize

    keys = metric_registry.keys(metrics)
    numeric = table[keys].apply(pd.to_numeric, errors="coerce")
    for column in [f"{key}_error" for key in keys if f"{key}_error" in table]:
        numeric[column] = table[column]
    model = model or {}
    return {
        "kind": kind,
        **{key: model.get(key) for key in ("model", "model_target", "model_package", "name")},
        "dataset": dataset, "test_set": test_set, "split": split,
        "data": str(Path(data).resolve()), "manifest": str(Path(manifest).resolve()),
        "num_mixtures": int(table["mixture_id"].nunique()), "num_targets": len(table),
        "metrics": summarize(numeric, keys),
        **fields,
        "seconds": round(seconds, 3), "command": " ".join(sys.argv), "stamp": stamp,
        "provenance": provenance(options),
    }


def test_set_of(manifest: Path, visual_condition: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """The test-set record a summary carries: the split's (`prepare` wrote it beside the
    manifest; computed from the manifest for a folder prepared without one), or the condition of
    it that damaged lips (`VisualCondition.as_dict()`) make."""
    from avss_bench.corpora.testsets import evaluated_test_set

    return evaluated_test_set(manifest, visual_condition).to_json()


def model_package(entry: Any) -> dict[str, str] | None:
    """The distribution (name, version) that provides a separator, for the summary: the one
    call of `SeparatorEntry.package()` (None where the registry cannot tell)."""
    package = getattr(entry, "package", None)
    return None if package is None else package()


# ---------------------------------------------------------------- results.csv
def read_results(path: str | Path) -> pd.DataFrame:
    """A results.csv (or the one in a folder): one row per (mixture, target); a missing,
    unreadable or foreign file is one line naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    try:
        frame = pd.read_csv(path, dtype={"mixture_id": str, "target": str})
    except FileNotFoundError:
        raise AvssError("no results.csv here (run `avss-bench evaluate` first)", path) from None
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        raise AvssError(f"cannot read results: {' '.join(str(err).split())}", path) from err
    missing = [column for column in KEY if column not in frame.columns]
    if missing:
        raise AvssError(f"is not a results table (no {', '.join(missing)} column)", path)
    return frame


def result_columns(metrics: Sequence[str], extra: Sequence[str] = (),
                   extra_errors: Sequence[str] = ()) -> list[str]:
    """results.csv's columns: the key, every metric column, the run's own columns, then the
    `<column>_error` reason of every metric column (and of ``extra_errors``)."""
    from avss_bench.metrics.registry import metric_registry

    keys = metric_registry.keys(metrics)
    return [*KEY, *keys, *extra, *(f"{key}_error" for key in [*keys, *extra_errors])]


# ---------------------------------------------------------------- the partial results
@dataclass(frozen=True)
class Partial:
    """The finished chunks of an unfinished run (picklable: a Dask worker writes its own)."""

    folder: Path
    columns: tuple[str, ...]

    @classmethod
    def of(cls, out: Path, columns: Sequence[str]) -> Partial:
        return cls(Path(out) / PARTIAL, tuple(columns))

    def write(self, first: int, rows: list[dict[str, Any]]) -> None:
        """One chunk's rows, atomically, named by its first item's index."""
        with atomic_path(self.folder / f"part-{first:08d}.csv") as tmp:
            pd.DataFrame(rows).reindex(columns=list(self.columns)).to_csv(tmp, index=False)

    def read(self) -> pd.DataFrame:
        """Every finished row, as text, in the chunks' order."""
        parts = [pd.read_csv(path, dtype=str, keep_default_na=False)
                 for path in sorted(self.folder.glob("part-*.csv"))]
        if not parts:
            return pd.DataFrame(columns=list(self.columns))
        return pd.concat(parts, ignore_index=True).reindex(columns=list(self.columns))

    def done(self) -> set[tuple[str, str]]:
        """The (mixture_id, target) of every finished row."""
        table = self.read()
        return set(zip(table["mixture_id"], table["target"], strict=True))

    def finish(self, out: Path, expected: int) -> pd.DataFrame:
        """Write results.csv from the chunks (sorted, so the bytes do not depend on the order
        or the number of runs that scored them); returns it as text."""
        table = self.read().sort_values(list(KEY), kind="stable").reset_index(drop=True)
        if len(table) != expected or table.duplicated(list(KEY)).any():
            raise AvssError(f"partial results are inconsistent ({len(table)} rows for "
                            f"{expected}); --overwrite starts over", self.folder)
        with atomic_path(Path(out) / RESULTS) as tmp:
            table.to_csv(tmp, index=False)
        return table

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- the stamp
def stamp_path(out: Path, verb: str) -> Path:
    return Path(out) / f"{verb}.stamp.json"


def data_stamp(manifest: Path, files: Iterable[Path]) -> dict[str, Any]:
    """The identity of the data a run read: the manifest (path, sha256) and its files (path,
    size, mtime)."""
    return {"manifest": str(Path(manifest).resolve()), "manifest_sha256": sha256_of(manifest),
            "files": files_identity(files)}


def check_folder(out: Path, stamp: dict[str, Any], verb: str, overwrite: bool = False,
                 outputs: Sequence[str] = ()) -> None:
    """Let the run `stamp` (re)use `out`, or stop naming the first difference.

    Temp files that killed runs left are removed first. With `overwrite`, every earlier output
    (results.csv, summary.json, the chunks, the stamp and the verb's own `outputs`) goes.
    """
    out = Path(out)
    stamp_file = stamp_path(out, verb)
    names = (RESULTS, SUMMARY, stamp_file.name, *outputs)
    remove_dead_temp_files(out, names)
    for name in (PARTIAL, *outputs):
        if (out / name).is_dir():
            remove_dead_temp_files(out / name)
    present = [out / name for name in (*names, PARTIAL) if (out / name).exists()]
    what = "evaluation" if verb == "evaluate" else f"{verb} run"
    if overwrite:
        for path in present:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif stamp_file.is_file():
        try:
            old = json.loads(stamp_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise AvssError(f"unreadable {verb} stamp ({err}); --overwrite starts over",
                            stamp_file) from err
        mismatch = first_mismatch(old, stamp)
        if mismatch:
            raise AvssError(f"holds another {what}: {mismatch}; use another --out or "
                            "--overwrite", stamp_file)
    else:
        if (out / PARTIAL).exists():  # chunks of no known run are never trusted: redone
            shutil.rmtree(out / PARTIAL)
        unstamped = [path for path in present
                     if path.name not in (PARTIAL, "profile.json")]  # a profile is judged alone
        if unstamped:
            raise AvssError(f"holds {what} outputs ({unstamped[0].name}) without a stamp of "
                            "what made them; use another --out or --overwrite", out)


def write_stamp(out: Path, stamp: dict[str, Any], verb: str) -> None:
    """Record what is about to be scored into `out` (before its first row)."""
    write_text(stamp_path(out, verb), json.dumps(stamp, indent=2, sort_keys=True, default=str))
