"""Deterministic splitting of a dataset across ranks without padding or dropping items.

torch's DistributedSampler pads the last shard by repeating items, which silently changes test
scores; these shards are disjoint, contiguous and together cover every index exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler


def shard_range(total: int, rank: int, world_size: int) -> range:
    """Indices of `rank`'s contiguous shard; shard sizes differ by at most one."""
    base, extra = divmod(total, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


class ContiguousShardSampler(Sampler[int]):
    """Yields this rank's contiguous, unpadded share of `range(total)`."""

    def __init__(self, total: int, rank: int, world_size: int) -> None:
        self.indices = shard_range(total, rank, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
