"""File checksums (torch-free, so every module that verifies a download can use it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_identity(paths: Iterable[str | Path]) -> str:
    """sha256 over (path, size, mtime_ns) of `paths`, in order: changes when any file is
    rewritten, appears or goes (a missing file is hashed as missing). Cheap: no file is read."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = Path(path).stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()
