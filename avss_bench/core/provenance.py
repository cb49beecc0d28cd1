"""The results stamp: what made an output (package, commit with dirty flag, libraries, options).

`evaluate` and `score --manifest` put `provenance(...)` into every summary.json; training
checkpoints and the report's footer record `git_commit()` and the package version.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: Libraries that can move a metric value, a model output, the lips or a DNSMOS score.
TRACKED_LIBRARIES = ("numpy", "scipy", "numba", "pesq", "pystoi", "soundfile", "soxr", "pandas",
                     "torch", "mediapipe", "av", "speechmos", "onnxruntime")
PACKAGE = Path(__file__).resolve().parents[1]
#: Written by setup.py into every wheel and sdist: the commit they were built from.
BUILD_COMMIT = PACKAGE / "_build_commit.txt"


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit this package's code comes from, ``-dirty`` if tracked files had changed.

    Run from a git checkout: its HEAD (and working tree). Installed from a wheel or an sdist:
    the commit it was built from, recorded at build time. None when neither is known. With
    `path`, the checkout holding `path` instead.
    """
    if path is not None:
        return _checkout_commit(Path(path))
    commit = _checkout_commit(PACKAGE, require_package=True)
    if commit is None and BUILD_COMMIT.is_file():
        commit = BUILD_COMMIT.read_text().strip() or None
    return commit


def _checkout_commit(where: Path, require_package: bool = False) -> str | None:
    """HEAD of the git checkout holding `where`; with `require_package`, only when that
    checkout's own `avss_bench/` is this package (not a wheel inside a venv in a checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        if require_package:
            top = Path(git("rev-parse", "--show-toplevel"))
            if (top / "avss_bench").resolve() != PACKAGE:
                return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if not commit:
        return None
    return f"{commit}-dirty" if dirty else commit


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

