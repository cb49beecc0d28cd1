"""IIANet and IIANet-fast separators (Separator contract of avss-bench).

`IIANet(mixture [B, T], lips [B, 1, F, 88, 88]) -> [B, T]` = the frozen lip front-end
(`model.lip_frontend`, lips -> `[B, 512, F]`) composed with the separation network
(`model.separate(mixture, video_embedding)`).

The separation network's parameters carry the official key names (`encoder`, `ln`,
`bottleneck`, `pre_v`, `sm.*`, `mask_net.*`, `decoder`), so the official state dict loads
unchanged; the front-end lives under `lip_frontend.*`. `IIANet.load_checkpoint` reads official
state dicts, the released `best_model.pth` files, Lightning checkpoints and the release zips.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avss_bench.models import (
    FRONTEND_NAME,
    FRONTEND_NOTE,
    FRONTEND_RELEASES,
    AVSeparator,
    LipFrontend,
    ModelCard,
    OfficialFile,
    freeze,
)
from avss_models.iianet.blocks import Recurrent, gln

__all__ = ["IIANet", "IIANetFast"]

#: IIANet-fast's default total cycle count (4 audio-visual + 6 audio-only); see README.md.
FAST_NUM_BLOCKS = 10
PAPER = ("Li et al., \"IIANet: An Intra- and Inter-Modality Attention Network for "
         "Audio-Visual Speech Separation\", ICML 2024")
#: The released checkpoints (JusperLee/IIANet v1.0.0, linked from its README): separator weights
#: only, no sha256 published; the front-end comes from the LRW lip-reading checkpoint.
RELEASES = tuple(
    OfficialFile(f"{corpus}.zip",
                 f"https://github.com/JusperLee/IIANet/releases/download/v1.0.0/{corpus}.zip",
                 None, f"{label} release (separator weights and conf.yml; no lip front-end)")
    for corpus, label in (("lrs2", "LRS2-2Mix"), ("lrs3", "LRS3-2Mix"),
                          ("vox2", "VoxCeleb2-2Mix"))
) + (FRONTEND_RELEASES["lrw_resnet18_mstcn_adamw_s3.pth.tar"],)


class IIANet(AVSeparator):
    """IIANet (Li et al., ICML 2024): audio-visual target speaker extraction.

    Constructor arguments keep the official names (they match the `audionet_config` of the
    official configs, e.g. `configs/LRS2-IIANet.yml`), plus our own:

    Args:
        out_channels: bottleneck width N (128).
        in_channels: audio hidden width H (512).
        vpre_channels: lip embedding width (512).
        vin_channels, vout_channels: video widths (64).
        num_blocks: total number of cycles (16); all cycles share weights.
        upsampling_depth: number of temporal scales (5).
        enc_kernel_size: encoder kernel in milliseconds (1 ms = 16 samples at 16 kHz).
        num_sources: 1 (target speaker extraction). With more, the decoder mixes all masked
            representations (official behaviour) and the output is `[B, num_sources, T]`.
        sample_rate: 16000.
        av_cycles: how many of the cycles are audio-visual (the official code hard-codes 4).
        enc_num_basis: encoder filter count; None = the official `kernel // 2 + 1` (9 for a
            16-sample kernel, reproduced so official checkpoints load; see README).
        freeze_frontend: lip front-end parameters get `requires_grad=False` and run under
            `no_grad` (official training). Default True.
        frontend_frozen_bn: keep the front-end's BatchNorms in eval mode in train mode. The
            official IIANet does not (False, default); CTCNet does.

    Shape:
        - mixture: `[B, T]` (16 kHz; `[B, 1, T]` is accepted)
        - lips: `[B, 1, F, 88, 88]` (25 fps, normalised)
        - video_embedding (for `separate`): `[B, 512, F]`
        - output: `[B, T]` (`[B, num_sources, T]` when num_sources > 1)
    """

    card = ModelCard(
        name="IIANet", paper=PAPER, reported_as="IIANet",
        counting=("Paper: IIANet 3.1 M params, 18.6 G MACs. That 18.6 G is per 1 s of input "
                  "counted with a ptflops-like counter that also counts "
                  "norms/activations/interpolation (the official code measures 18.54 G that "
                  "way; its conv/matmul MACs are 17.10 G per 1 s, 34.14 G per 2 s). Use "
                  "--seconds 1 to compare with the paper."),
        macs_seconds=1.0, visual_encoder=FRONTEND_NAME, visual_encoder_note=FRONTEND_NOTE,
        needs_frontend_weights=True, official_files=RELEASES)

    #: Whether `load_checkpoint` takes `num_blocks` from an official file's stored config.
    _num_blocks_from_checkpoint = True

    def __init__(self, out_channels: int = 128, in_channels: int = 512, vpre_channels: int = 512,
                 vin_channels: int = 64, vout_channels: int = 64, num_blocks: int = 16,
                 upsampling_depth: int = 5, enc_kernel_size: int = 1, num_sources: int = 1,
                 sample_rate: int = 16000, av_cycles: int = 4, enc_num_basis: int | None = None,
                 freeze_frontend: bool = True, frontend_frozen_bn: bool = False) -> None:
        super().__init__()
        if num_blocks < 1 or av_cycles < 0 or upsampling_depth < 2:
            raise ValueError("need num_blocks >= 1, av_cycles >= 0, upsampling_depth >= 2")
        self.config: dict[str, Any] = {
            "out_channels": out_channels, "in_channels": in_channels,
            "vpre_channels": vpre_channels, "vin_channels": vin_channels,
            "vout_channels": vout_channels, "num_blocks": num_blocks,
            "upsampling_depth": upsampling_depth, "enc_kernel_size": enc_kernel_size,
            "num_sources": num_sources, "sample_rate": sample_rate, "av_cycles": av_cycles,
            "enc_num_basis": enc_num_basis, "freeze_frontend": freeze_frontend,
            "frontend_frozen_bn": frontend_frozen_bn,
        }
        self.sample_rate = sample_rate
        self.num_sources = num_sources
        self.kernel = enc_kernel_size * sample_rate // 1000     # 16 samples
        self.stride = self.kernel // 4                           # 4 samples
        self.num_basis = enc_num_basis or self.kernel // 2 + 1  # 9 (official quirk)

        self.encoder = nn.Conv1d(1, self.num_basis, self.kernel, stride=self.stride,
                                 padding=self.kernel // 2, bias=False)
        self.ln = gln(self.num_basis)
        self.bottleneck = nn.Conv1d(self.num_basis, out_channels, 1)
        self.pre_v = nn.Conv1d(vpre_channels, vin_channels, 3, padding=1)
        self.sm = Recurrent(out_channels, in_channels, vin_channels, vout_channels,
                            upsampling_depth, num_blocks, av_cycles)
        self.mask_net = nn.Sequential(
            nn.PReLU(), nn.Conv1d(out_channels, num_sources * self.num_basis, 1))
        self.decoder = nn.ConvTranspose1d(num_sources * self.num_basis, num_sources, self.kernel,
                                          stride=self.stride, padding=self.kernel // 2,
                                          bias=False)
        nn.init.xavier_uniform_(self.encoder.weight)
        nn.init.xavier_uniform_(self.decoder.weight)

        self.lip_frontend = LipFrontend(frozen_bn=frontend_frozen_bn)
        if freeze_frontend:
            freeze(self.lip_frontend)

    # ------------------------------------------------------------------ forward passes
    # forward(mixture, lips) = separate(mixture, embed_lips(lips)): AVSeparator.
    def separate(self, mixture: torch.Tensor, video_embedding: torch.Tensor) -> torch.Tensor:
        """Separation network alone.

        Shape:
            - mixture: `[B, T]` (or `[B, 1, T]`); video_embedding: `[B, 512, F]`
            - output: `[B, T]` (`[B, num_sources, T]` when num_sources > 1)
        """
        if mixture.ndim == 3 and mixture.shape[1] == 1:
            mixture = mixture[:, 0]
        if mixture.ndim != 2:
            raise ValueError(f"mixture must be [B, T], got {list(mixture.shape)}")
        if video_embedding.ndim != 3 or video_embedding.shape[0] != mixture.shape[0]:
            raise ValueError(f"video_embedding must be [B, C, F] with B={mixture.shape[0]}, "
                             f"got {list(video_embedding.shape)}")
        length = mixture.shape[-1]
        # End padding to the hop pattern, then kernel - hop zeros on both sides (official).
        rest = self.kernel - (self.stride + length % self.kernel) % self.kernel
        side = self.kernel - self.stride
        wav = F.pad(mixture, (side, rest + side)).unsqueeze(1)        # [B, 1, T']

        basis = self.encoder(wav)                                     # [B, K, L]
        x = self.bottleneck(self.ln(basis))                           # [B, N, L]
        v = self.pre_v(video_embedding.to(basis.dtype))               # [B, Cv, F]
        x = self.sm(x, v)                                             # [B, N, L]

        batch, frames = x.shape[0], x.shape[-1]
        mask = torch.relu(self.mask_net(x).view(batch, self.num_sources, self.num_basis, frames))
        masked = (mask * basis.unsqueeze(1)).view(batch, -1, frames)
        out = self.decoder(masked)[..., side:side + length]           # [B, S, T]
        return out[:, 0] if self.num_sources == 1 else out

    # ------------------------------------------------------------------ helpers
    def separation_state_dict(self) -> dict[str, torch.Tensor]:
        """The separation network's tensors in the official key layout (no front-end)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("lip_frontend.")}

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def load_checkpoint(cls, path: str | Path | Mapping[str, Any], **config: Any) -> IIANet:
        """Build the model from an official checkpoint, in eval mode.

        Accepts: a state dict in the official key layout (separation network only, or with the
        front-end under `lip_frontend.`/`video_model.`); the released `best_model.pth`
        (`{"model_name", "state_dict", "model_args"}`); a Lightning checkpoint (`state_dict`
        with `audio_model.` / `video_model.` prefixes); a release zip (`lrs2.zip`, ...); an
        avss-bench checkpoint. `**config` overrides the stored configuration. Missing or
        unexpected keys raise AvssError listing them. Files are read with `weights_only=True`.
        """
        from avss_models.iianet.official import load_official

        return load_official(cls, path, **config)


class IIANetFast(IIANet):
    """IIANet-fast: the same layers and weights as IIANet with fewer audio-only cycles.

    `num_blocks` (total cycles, 4 of them audio-visual) defaults to 10; see
    avss_models/iianet/README.md for why. Any IIANet checkpoint loads into it.

    Shape:
        - mixture: `[B, T]`, lips: `[B, 1, F, 88, 88]` -> `[B, T]`
    """

    card = ModelCard(
        name="IIANet-fast", paper=PAPER, reported_as="IIANet-fast",
        counting=("Paper: IIANet-fast has '7% of CTCNet's MACs' (CTCNet's 167.2 G is per 2 s, "
                  "IIANet's per 1 s, ptflops-like); the paper's table was not available, see "
                  "avss_models/iianet/README.md for the cycle count chosen."),
        macs_seconds=1.0, visual_encoder=FRONTEND_NAME, visual_encoder_note=FRONTEND_NOTE,
        needs_frontend_weights=True, official_files=RELEASES)
    _num_blocks_from_checkpoint = False

    def __init__(self, num_blocks: int = FAST_NUM_BLOCKS, **kwargs: Any) -> None:
        super().__init__(num_blocks=num_blocks, **kwargs)
