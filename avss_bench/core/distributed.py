"""Where this process sits in a torchrun job (rank, world size); one process is world size 1.

Shared by training and evaluation, which both run under torchrun.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group when launched by torchrun; a no-op for one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def rank0_decides(code: int, info: DistInfo, device: torch.device) -> int:
    """Rank 0's decision (e.g. a stop code), the same on every rank; `code` elsewhere is ignored.

    Every rank must call it at the same point; one process returns `code` unchanged.
    """
    if info.world_size <= 1:
        return code
    buf = torch.tensor([code], dtype=torch.int64, device=device)
    dist.broadcast(buf, src=0)
    return int(buf.item())


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether `flag` is true on at least one rank (a collective; every rank calls it)."""
    if info.world_size <= 1:
        return flag
    buf = torch.tensor([int(flag)], dtype=torch.int64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.MAX)
    return bool(buf.item())


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's `obj`, in rank order (a collective; one process gets `[obj]`)."""
    if info.world_size <= 1:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
