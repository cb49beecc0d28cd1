"""The results stamp: what made an output (package, commit with dirty flag, libraries, options).

Every result writer (score, evaluate, profile, train, prepare) calls `provenance` so all outputs
carry the same fields.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: Libraries that can move a metric value or a model output.
TRACKED_LIBRARIES = ("numpy", "scipy", "numba", "pesq", "pystoi", "soundfile", "pandas", "torch")


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout this package runs from, ``-dirty`` if tracked files changed.

    None when the package does not run from a git checkout (an installed wheel).
    """
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if not commit:
        return None
    return f"{commit}-dirty" if dirty.strip() else commit


def library_versions() -> dict[str, str | None]:
    """Python and the versions of `TRACKED_LIBRARIES` (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(options: dict[str, Any]) -> dict[str, Any]:
    """The stamp every result carries: package version, git commit, libraries, options."""
    from avss_bench import __version__

    return {
        "avss_bench_version": __version__,
        "git_commit": git_commit(),
        "library_versions": library_versions(),
        "platform": platform.platform(),
        "options": options,
    }


def first_mismatch(old: Any, new: Any, where: str = "") -> str | None:
    """The first field (dotted path) where two stamps differ, with both values; None if equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(dict.fromkeys([*new, *old])):
            found = first_mismatch(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if old != new:
        return f"{where or 'stamp'} was {json.dumps(old, default=str)}, now " \
               f"{json.dumps(new, default=str)}"
    return None

