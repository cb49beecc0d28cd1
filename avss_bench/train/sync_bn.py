"""BatchNorm over the global batch under DDP on any backend (torch's SyncBatchNorm is GPU-only).

The official IIANet trains with Lightning's `sync_batchnorm=True`: every BatchNorm in train mode
normalises with the statistics of the whole global batch. On CUDA we use
`torch.nn.SyncBatchNorm`; on CPU (gloo) `GlobalBatchNorm` does the same with two differentiable
all-reduces (mean, then centred second moment), so N processes match one process exactly up to
float rounding.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose train-mode statistics are summed over all ranks (same keys as BatchNorm)."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"expected at least 2-D input, got {x.ndim}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or not self.track_running_stats) or not dist.is_initialized():
            return super().forward(x)
        dims = [d for d in range(x.ndim) if d != 1]
        shape = [1, -1] + [1] * (x.ndim - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        dist.all_reduce(count)
        mean = all_reduce(x.sum(dims)) / count
        var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(
                    self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm by `GlobalBatchNorm` in place (weights, buffers, flags kept)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
                child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            if child.affine:
                new.weight.requires_grad_(child.weight.requires_grad)
                new.bias.requires_grad_(child.bias.requires_grad)
            setattr(module, name, new.to(next(child.buffers(), torch.empty(0)).device))
        else:
            convert_global_batchnorm(child)
    return module


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Global-batch BatchNorm for a DDP run: torch's SyncBatchNorm on CUDA, ours elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return convert_global_batchnorm(model)
