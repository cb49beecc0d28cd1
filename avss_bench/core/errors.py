"""The one exception type for errors a user can cause (bad paths, bad files, bad options).

The CLI prints these as a single line and exits with status 1; anything else is our bug and
keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AvssError(Exception):
    """A user-facing error with a one-line message, optionally naming the file at fault."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)
