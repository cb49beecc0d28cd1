"""Atomic file writes: the one way this package writes an output that a crash must not tear.

Every writer stages its bytes in a hidden sibling (unique per host and process, so shards on
several machines writing into one shared folder never share a temp file) and renames it onto the
target only when complete. A crash or Ctrl-C leaves either the old file or the new one, never a
partial file that a resumed run would trust.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


def temp_path(path: str | Path) -> Path:
    """A hidden sibling of `path` to write before renaming onto it."""
    path = Path(path)
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_")[:32]
    return path.with_name(f".{path.name}.tmp{host}-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed.

    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write `obj` as JSON (trailing newline) atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]],
              fieldnames: Sequence[str]) -> None:
    """Write dict rows as CSV atomically; every key of every row must be in `fieldnames`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def write_torch(path: str | Path, obj: Any) -> None:
    """`torch.save` atomically (checkpoints)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def remove_dead_temp_files(folder: Path, names: Iterable[str] | None = None) -> int:
    """Delete the temp files (``core.atomic.temp_path``) in `folder` of writers that are gone.

    A kill -9 between writing a temp file and renaming it leaves ``.<name>.tmp<host>-<pid>``
    behind. Only files of this host whose process no longer exists are removed (of `names`
    only, when given), so a live writer sharing the folder (another score run using the same
    baseline cache) keeps its own. Returns how many were removed.
    """
    mine = temp_path(Path("x")).name.removeprefix(".x.tmp")
    host = mine.rpartition("-")[0]
    wanted = None if names is None else set(names)
    removed = 0
    for path in Path(folder).glob(".*.tmp*") if Path(folder).is_dir() else ():
        name, _, owner = path.name[1:].rpartition(".tmp")
        owner_host, _, pid = owner.rpartition("-")
        if (wanted is not None and name not in wanted) or owner_host != host \
                or not pid.isdigit() or _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
