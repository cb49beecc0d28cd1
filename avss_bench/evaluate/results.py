"""The results layer shared by `evaluate` and `score --manifest`: one summary.json shape, one
writer, one reader.

summary.json (strict JSON: NaN and infinities are written as null)::

    {"kind": "evaluate" | "score",
     "model", "model_target", "model_package": {"name", "version"}, "name",
     "test_set": TestSet record (avss_bench.io.testset) or null,
     "split", "data", "manifest", "num_mixtures", "num_targets",
     "metrics": {key: {"mean", "std", "ci95_low", "ci95_high", "n", "n_failed"}},
     "checkpoint", "checkpoint_sha256", "random_init", "lip_rows", "visual_condition",
     "config", "params_separator", "seconds", "command",
     "stamp": {...}, "provenance": {"avss_bench_version", "git_commit", ...}}
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_text
from avss_bench.core.errors import AvssError

SUMMARY = "summary.json"


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
