"""The unprocessed mixture as a "separator": the baseline row of every leaderboard."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avss_bench.models.card import ModelCard


class Unprocessed(nn.Module):
    """Returns the mixture unchanged (the 'Mixture' row: its improvements are 0 by definition).

    Shape:
        - mixture: [B, T]; lips: ignored (may be None)
        - output: [B, T]
    """

    card = ModelCard(name="Mixture (unprocessed)",
                     counting="No parameters and no computation: the reference row.")

    def __init__(self) -> None:
        super().__init__()
        self.config: dict[str, Any] = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return mixture.clone()
