"""A parallel map over batches of items with one progress bar (joblib processes).

`run_batches` is the `local` executor of `avss_bench.prepare.executor` (`LocalExecutor`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_batches(fn: Callable, batches: Sequence[Sequence], args: tuple, jobs: int,
                 desc: str, quiet: bool, weight: Callable[[Sequence], int] = len) -> list:
    """Run `fn(*args_before, batch, *args_after)`-style tasks, in parallel when jobs > 1."""
    from tqdm.auto import tqdm

    results: list = []
    total = sum(weight(b) for b in batches)
    with tqdm(total=total, desc=desc, unit="item", disable=quiet or total == 0,
              leave=False) as bar:
        if jobs <= 1 or len(batches) <= 1:
            for batch in batches:
                results.append(fn(*args[0], batch, *args[1]))
                bar.update(weight(batch))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=jobs, return_as="generator_unordered")
            for batch, result in run(delayed(_tagged)(fn, args, b) for b in batches):
                results.append(result)
                bar.update(weight(batch))
    return results


def _tagged(fn: Callable, args: tuple, batch: Sequence) -> tuple[Sequence, object]:
    return batch, fn(*args[0], batch, *args[1])
