"""`prepare --executor`: the executors now live in `avss_bench.core.executor` (shared with
`score --manifest`); this module re-exports them for existing imports."""

from __future__ import annotations

from avss_bench.core.executor import (
    RETRIES,
    DaskExecutor,
    Executor,
    LocalExecutor,
    closing_executor,
    make_executor,
    parse_slurm_spec,
)

__all__ = ["RETRIES", "DaskExecutor", "Executor", "LocalExecutor", "closing_executor",
           "make_executor", "parse_slurm_spec"]
