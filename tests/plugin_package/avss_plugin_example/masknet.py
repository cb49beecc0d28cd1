import torch
import torch.nn.functional as F
from torch import nn

from avss_bench.models import AVSeparator, ModelCard


class MaskNet(AVSeparator):
    """A minimal audio-visual separator: lips gate a mask on a learned filterbank."""

    card = ModelCard(name="MaskNet-{channels}", paper="my lab's tech report, 2026",
                     counting="Params/MACs as avss-bench counts them (no published figures).",
                     visual_encoder="pooled mouth pixels (trained with the separator)")

    def __init__(self, channels: int = 64, video_dim: int = 16):
        super().__init__()
        self.config = {"channels": channels, "video_dim": video_dim}  # rebuilds the model
        self.encoder = nn.Conv1d(1, channels, 32, stride=16, bias=False)
        self.lip_frontend = nn.Sequential(nn.AvgPool3d((1, 8, 8)), nn.Flatten(3),
                                          nn.Linear(121, video_dim))  # [B, 1, F, video_dim]
        self.mask = nn.Sequential(nn.Conv1d(channels + video_dim, channels, 3, padding=1),
                                  nn.PReLU(), nn.Conv1d(channels, channels, 1), nn.Sigmoid())
        self.decoder = nn.ConvTranspose1d(channels, 1, 32, stride=16, bias=False)

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        length = mixture.shape[-1]
        x = self.encoder(F.pad(mixture, (0, 16 - length % 16 + 16)).unsqueeze(1))
        video = F.interpolate(embedding[:, 0].transpose(1, 2), size=x.shape[-1])
        return self.decoder(x * self.mask(torch.cat([x, video], 1))).squeeze(1)[..., :length]
