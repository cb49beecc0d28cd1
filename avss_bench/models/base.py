"""`AVSeparator`: the shared shape of an audio-visual separator.

An audio-visual separator is a visual encoder (`lip_frontend`: lips -> embedding) followed by a
separation network (`separate(mixture, embedding)`). The base class writes the composition once:

    forward(mixture, lips) = separate(mixture, embed_lips(lips))

and `embed_lips` runs the front-end without autograd when none of its parameters is trained.
Subclasses set `lip_frontend` (a module or a property), write `separate`, and carry a `card`.
Nothing here registers parameters, so a subclass's state-dict names and order are its own.
"""

from __future__ import annotations

import torch
from torch import nn

from avss_bench.models.card import ModelCard, card_of


class AVSeparator(nn.Module):
    """Base class of audio-visual separators (the Separator contract's two halves).

    Shape:
        - mixture: `[B, T]` at 16 kHz
        - lips: `[B, 1, F, H, W]` at 25 fps, normalised (88x88 crops; other heights pass
          through to the front-end, e.g. the official 50x88 slice)
        - embed_lips: lips -> the visual encoder's embedding, e.g. `[B, 512, F]`
        - separate: (mixture, embedding) -> `[B, T]`
        - forward: (mixture, lips) -> `[B, T]`
    """

    card = ModelCard(name="audio-visual separator")
    lip_frontend: nn.Module

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None) -> torch.Tensor:
        """Separate the speaker whose mouth crops are `lips` from `mixture`."""
        if lips is None:
            raise ValueError(f"{card_of(self).display_name()} is audio-visual: lips "
                             "[B, 1, F, 88, 88] are required")
        return self.separate(mixture, self.embed_lips(lips.to(mixture.dtype)))

    def embed_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """The visual encoder on `lips` (no autograd when it has nothing to train)."""
        if self.frontend_frozen():
            with torch.no_grad():
                return self.lip_frontend(lips)
        return self.lip_frontend(lips)

    def frontend_frozen(self) -> bool:
        """Whether no parameter of the visual encoder is trained."""
        return not any(p.requires_grad for p in self.lip_frontend.parameters())

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """The separation network alone, on the visual encoder's embedding."""
        raise NotImplementedError(f"{type(self).__name__} must define separate()")
