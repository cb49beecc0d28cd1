"""TinyAVSeparator: a small audio-visual target-speaker extractor that trains in minutes on CPU.

It exists so the demo (and fast CLI tests) can run every stage for real on a laptop. Shape of
the network: a learned 1-D conv encoder, a light 3-D conv lip encoder, nearest-neighbour
upsampling of the video features to the audio frame rate, a stack of dilated depthwise-separable
conv blocks (Conv-TasNet style) over the concatenated features, a sigmoid mask, and a transposed
conv decoder.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avss_bench.models.card import ModelCard


class TinyLipEncoder(nn.Module):
    """Per-frame lip features from 88x88 mouth crops, cheap enough for CPU training.

    Shape:
        - lips: [B, 1, F, 88, 88] (normalised as the Lip ROI contract says)
        - output: [B, C, F]
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool3d((1, 4, 4)),  # 88 -> 22: the mouth shape survives, the cost drops 16x
            nn.Conv3d(1, 16, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
            nn.GELU(),
            nn.Conv3d(16, 32, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1)),
            nn.GELU(),
        )
        self.project = nn.Conv1d(32, channels, 1)

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        features = self.net(lips).mean(dim=(3, 4))  # [B, 32, F]
        return self.project(features)


class SeparableBlock(nn.Module):
    """Residual dilated depthwise-separable conv block with global layer norm."""

    def __init__(self, channels: int, hidden: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, hidden, 1),
            nn.PReLU(),
            nn.GroupNorm(1, hidden, eps=1e-8),
            nn.Conv1d(hidden, hidden, 3, padding=dilation, dilation=dilation, groups=hidden),
            nn.PReLU(),
            nn.GroupNorm(1, hidden, eps=1e-8),
            nn.Conv1d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TinyAVSeparator(nn.Module):
    """Small audio-visual target-speaker extractor (demo model, ~0.2 M parameters).

    Args:
        enc_channels: encoder filters.
        kernel_size: encoder/decoder kernel in samples (stride is half of it).
        hidden: channels inside each separable block.
        video_channels: width of the lip features.
        num_blocks: separable blocks per repeat (dilations 1, 2, 4, ...).
        repeats: how many times the block stack is repeated.

    Shape:
        - mixture: [B, T] at 16 kHz
        - lips: [B, 1, F, 88, 88] at 25 fps, or None (the model then sees zeros)
        - output: [B, T], the target speaker's estimate
    """

    card = ModelCard(name="TinyAV (demo)",
                     paper="the demo separator of avss-bench (not published)",
                     counting="Not a published model: no paper figures to compare with.",
                     visual_encoder="TinyLipEncoder (trained with the separator)")

    def __init__(self, enc_channels: int = 64, kernel_size: int = 32, hidden: int = 128,
                 video_channels: int = 64, num_blocks: int = 4, repeats: int = 2) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "enc_channels": enc_channels, "kernel_size": kernel_size, "hidden": hidden,
            "video_channels": video_channels, "num_blocks": num_blocks, "repeats": repeats}
        self.stride = kernel_size // 2
        self.kernel_size = kernel_size
        self.encoder = nn.Conv1d(1, enc_channels, kernel_size, stride=self.stride, bias=False)
        self.lip_frontend = TinyLipEncoder(video_channels)
        self.audio_norm = nn.GroupNorm(1, enc_channels, eps=1e-8)
        self.fuse = nn.Conv1d(enc_channels + video_channels, enc_channels, 1)
        self.blocks = nn.Sequential(*[
            SeparableBlock(enc_channels, hidden, 2 ** i)
            for _ in range(repeats) for i in range(num_blocks)])
        self.mask = nn.Sequential(nn.PReLU(), nn.Conv1d(enc_channels, enc_channels, 1),
                                  nn.Sigmoid())
        self.decoder = nn.ConvTranspose1d(enc_channels, 1, kernel_size, stride=self.stride,
                                          bias=False)

    def separate(self, mixture: torch.Tensor, video_embedding: torch.Tensor) -> torch.Tensor:
        """Extract the target from `mixture` [B, T] given lip features [B, C, F] -> [B, T]."""
        length = mixture.shape[-1]
        pad = (-(length - self.kernel_size) % self.stride) if length > self.kernel_size else (
            self.kernel_size - length)
        wav = F.pad(mixture, (0, pad)).unsqueeze(1)
        encoded = self.encoder(wav)  # [B, N, L]
        video = F.interpolate(video_embedding, size=encoded.shape[-1], mode="nearest")
        x = self.fuse(torch.cat([self.audio_norm(encoded), video], dim=1))
        x = self.blocks(x)
        estimate = self.decoder(encoded * self.mask(x)).squeeze(1)
        return estimate[..., :length]

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None) -> torch.Tensor:
        if lips is None:
            frames = max(1, round(mixture.shape[-1] / 16000 * 25))
            lips = mixture.new_zeros(mixture.shape[0], 1, frames, 88, 88)
        return self.separate(mixture, self.lip_frontend(lips))
