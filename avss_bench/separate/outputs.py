"""What `separate` leaves in its output folder, and the stamp that says what made it.

``tracks.json`` is written last and carries the stamp (the input video's identity: resolved
path, size, mtime; the model; the checkpoint's sha256; the options); ``index.html`` shows the
same stamp. Before a run writes anything, every earlier ``speaker_k.wav`` / ``speaker_k.mp4`` /
``index.html`` / ``tracks.json`` in the folder is removed, so a ``-n 1`` run into the folder of
a ``-n 2`` run cannot leave a stale ``speaker_2.wav`` behind, and a half-written earlier run
(no ``tracks.json``) is never trusted. Other files in the folder are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError

OUTPUT_NAME = re.compile(r"^(speaker_\d+\.(wav|mp4)|tracks\.json|index\.html)$")


def input_identity(path: Path) -> dict[str, Any]:
    """Resolved path, size and modification time of an input file."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def make_stamp(video: Path, model: str, checkpoint: Path | None,
               options: dict[str, Any]) -> dict[str, Any]:
    """The stamp recorded in ``tracks.json``."""
    from avss_bench.core.hashing import sha256_of

    return {"video": input_identity(video), "model": model,
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "checkpoint_sha256": None if checkpoint is None else sha256_of(checkpoint),
            "options": options}


def clear_outputs(out_dir: Path) -> list[Path]:
    """Create ``out_dir`` and remove earlier ``separate`` outputs from it.

    Returns:
        the files removed.

    Raises:
        AvssError: the folder cannot be created or written (permissions, a file in the way).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise AvssError("output folder is a file", out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        removed = []
        for entry in sorted(out_dir.iterdir()):
            if entry.is_file() and OUTPUT_NAME.match(entry.name):
                entry.unlink()
                removed.append(entry)
        probe = out_dir / ".avss-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()
        raise AvssError(f"cannot write the output folder ({reason})", out_dir) from None
    return removed
