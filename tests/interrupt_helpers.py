"""Interrupt a scoring run part-way, as Ctrl-C would, to test that it resumes exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from avss_bench.metrics import split as split_mod


def interrupt_scoring_after(monkeypatch: pytest.MonkeyPatch, chunks: int,
                            run: Callable[[], object]) -> None:
    """Run `run()` with a KeyboardInterrupt raised when chunk `chunks + 1` starts scoring, so
    exactly `chunks` chunks finish; the real chunk scorer is back in place afterwards."""
    real = split_mod._score_chunk
    started = 0

    def crashing(*args: object, **kwargs: object) -> object:
        nonlocal started
        started += 1
        if started > chunks:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(split_mod, "_score_chunk", crashing)
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        monkeypatch.setattr(split_mod, "_score_chunk", real)
