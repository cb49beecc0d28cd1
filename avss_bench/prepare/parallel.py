"""`prepare`'s local process pool: now `avss_bench.core.executor.run_batches` (the `local`
executor, shared with `score --manifest`); re-exported here for existing imports."""

from __future__ import annotations

from avss_bench.core.executor import chunks, run_batches

__all__ = ["chunks", "run_batches"]
