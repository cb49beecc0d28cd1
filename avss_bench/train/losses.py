"""Training and validation objectives of the official recipes (negative SNR / SI-SNR).

Both remove each signal's mean first. SNR = 10 log10(|s|^2 / (|s_hat - s|^2 + eps) + eps), the
IIANet/CTCNet training loss; SI-SNR projects the estimate onto the target first (validation).
"""

from __future__ import annotations

import torch

EPS = 1e-8


def snr(estimate: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Zero-mean SNR in dB per example.

    Shape:
        - estimate, target: [B, T]
        - output: [B]
    """
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    target = target - target.mean(dim=-1, keepdim=True)
    noise = (estimate - target).pow(2).sum(-1)
    return 10 * torch.log10(target.pow(2).sum(-1) / (noise + eps) + eps)


def si_snr(estimate: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Scale-invariant SNR in dB per example (zero-mean, asteroid form).

    Shape:
        - estimate, target: [B, T]
        - output: [B]
    """
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    target = target - target.mean(dim=-1, keepdim=True)
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = estimate - projection
    return 10 * torch.log10(projection.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps) + eps)


LOSSES = {"snr": snr, "si_snr": si_snr}


def negative(name: str):
    """The loss `-metric(estimate, target).mean()` for a metric name in LOSSES."""
    metric = LOSSES[name]

    def loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -metric(estimate, target).mean()

    return loss
