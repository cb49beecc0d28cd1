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


class GlobalBatchSampler(Sampler[list[int]]):
    """Shuffled global batches of `global_batch` items, each split evenly across ranks.

    Epoch e's order depends only on (seed, e), so one process with batch G and N processes
    with batch G/N see exactly the same global batches: DDP's gradient average then equals the
    single-process gradient, and a resumed run replays the same order. Incomplete last global
    batches are dropped (training only).
    """

    def __init__(self, total: int, global_batch: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0) -> None:
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by {world_size} ranks")
        self.total, self.global_batch = total, global_batch
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.total, generator=generator).tolist()
        local = self.global_batch // self.world_size
        for start in range(0, self.total - self.global_batch + 1, self.global_batch):
            begin = start + self.rank * local
            yield order[begin:begin + local]

    def __len__(self) -> int:
        return self.total // self.global_batch
