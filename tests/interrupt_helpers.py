"""Interrupt a scoring run part-way, as Ctrl-C would, to test that it resumes exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from avss_bench.evaluate.results import Partial


def interrupt_scoring_after(monkeypatch: pytest.MonkeyPatch, chunks: int,
                            run: Callable[[], object]) -> None:
    """Run `run()` (`score --manifest` on the local executor, or `evaluate`) with a
    KeyboardInterrupt raised when chunk `chunks + 1` is about to be written, so exactly `chunks`
    chunks finish; the real writer is back in place afterwards."""
    real = Partial.write
    written = 0

    def crashing(self: Partial, *args: object, **kwargs: object) -> None:
        nonlocal written
        written += 1
        if written > chunks:
            raise KeyboardInterrupt
        real(self, *args, **kwargs)

    monkeypatch.setattr(Partial, "write", crashing)
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        monkeypatch.setattr(Partial, "write", real)
