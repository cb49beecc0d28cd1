"""DP-LipCoder, Dolphin's own video encoder: a semantic path (ending in a one-codebook vector
quantiser) and a reconstruction path over the same layer list, summed.

Module names reproduce the official state-dict keys (`semantic_model.*`, `recon_model.*`,
`...encoder_layers.{i}.fn.*`, `...quantizer.layers.0._codebook.*`). Inference only: in train
mode the quantiser still picks the nearest code (no Gumbel sampling, no EMA / k-means update,
no rotation trick) -- see the package README.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VideoEncoder", "DEFAULT_LAYERS"]

#: The layer list of the released configuration (`configs/dolphin.yml`).
DEFAULT_LAYERS = ("residual", "compress_space", "consecutive_residual", "compress_space",
                  "consecutive_residual", "linear_attend_space", "compress_space",
                  "consecutive_residual", "attend_space")


def _frames(x: torch.Tensor) -> torch.Tensor:
    """`[B, C, F, H, W]` -> `[B * F, C, H, W]`."""
    return x.transpose(1, 2).flatten(0, 1)


def _unframes(x: torch.Tensor, batch: int) -> torch.Tensor:
    """`[B * F, C, H, W]` -> `[B, C, F, H, W]`."""
    return x.unflatten(0, (batch, -1)).transpose(1, 2)


class Residual(nn.Module):
    """`fn(x) + x`."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


class SqueezeExcite(nn.Module):
    """Per-frame attention pooling over space, then a channel gate.

    weights = softmax over H*W of `to_k`(x); pooled = sum weights * x; gate =
    sigmoid(net(pooled)) with hidden width max(16, dim / 2); output gate * x.

    Shape:
        - x: `[B, C, F, H, W]` -> same shape
    """

    def __init__(self, dim: int, hidden_min: int = 16) -> None:
        super().__init__()
        hidden = max(hidden_min, dim // 2)
        self.to_k = nn.Conv2d(dim, 1, 1)
        self.net = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(hidden, dim, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = _frames(x)                                              # [BF, C, H, W]
        weights = self.to_k(frames).flatten(2).softmax(dim=-1)           # [BF, 1, HW]
        pooled = torch.einsum("bin,bcn->bci", weights, frames.flatten(2))  # [BF, C, 1]
        gate = self.net(pooled.unsqueeze(-1))                            # [BF, C, 1, 1]
        return _unframes(gate, x.shape[0]) * x


def residual_unit(dim: int, kernel_size: int) -> Residual:
    """x + SE(ELU(Conv3d 1x1x1(ELU(Conv3d k 'same'(x)))))."""
    return Residual(nn.Sequential(nn.Conv3d(dim, dim, kernel_size, padding="same"), nn.ELU(),
                                  nn.Conv3d(dim, dim, 1), nn.ELU(), SqueezeExcite(dim)))


class SpatialDownsample(nn.Module):
    """Per-frame Conv2d(kernel 3, stride 2, padding 1).

    Shape:
        - x: `[B, C, F, H, W]` -> `[B, C_out, F, ceil(H / 2), ceil(W / 2)]`
    """

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _unframes(self.conv(_frames(x)), x.shape[0])


class RMSNorm(nn.Module):
    """`normalize(x, dim) * sqrt(C) * gamma`, over the last dim or (channel_first) dim 1."""

    def __init__(self, dim: int, channel_first: bool = False) -> None:
        super().__init__()
        self.channel_first = channel_first
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1, 1) if channel_first else (dim,)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1 if self.channel_first else -1) * self.scale * self.gamma


def _space_tokens(x: torch.Tensor) -> torch.Tensor:
    """`[B, C, F, H, W]` -> `[B * F, H * W, C]`."""
    return x.permute(0, 2, 3, 4, 1).flatten(2, 3).flatten(0, 1)


def _space_untokens(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    batch, chan, frames, height, width = like.shape
    return y.view(batch, frames, height, width, chan).permute(0, 4, 1, 2, 3)


class TaylorLinearAttention(nn.Module):
    """Linear attention with the 2nd-order Taylor feature map phi(v) = [1, v, vec(v v^T)/sqrt 2]
    (taylor-series-linear-attention 0.1.12, non-causal, no biases).

    Shape:
        - x: `[N, L, dim]` -> same shape
    """

    def __init__(self, dim: int, dim_head: int = 8, heads: int = 16) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        inner = dim_head * heads
        self.to_q = nn.Sequential(nn.Linear(dim, inner, bias=False))
        self.to_kv = nn.Sequential(nn.Linear(dim, 2 * inner, bias=False))
        self.to_out = nn.Sequential(nn.Linear(inner, dim, bias=False))

    @staticmethod
    def _phi(v: torch.Tensor) -> torch.Tensor:
        second = torch.einsum("...i,...j->...ij", v, v) * (0.5 ** 0.5)
        return torch.cat([v.new_ones(*v.shape[:-1], 1), v, second.flatten(-2)], dim=-1)

    def forward(self, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
        n, length, _ = x.shape
        q = self.to_q(x).view(n, length, self.heads, -1).transpose(1, 2)
        k, v = self.to_kv(x).view(n, length, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self._phi(q * self.scale), self._phi(k)
        kv = torch.einsum("bhnd,bhne->bhde", k, v)
        inv = 1.0 / torch.einsum("bhnd,bhmd->bhn", q, k).clamp(min=eps)
        out = torch.einsum("bhnd,bhde,bhn->bhne", q, kv, inv)
        return self.to_out(out.transpose(1, 2).reshape(n, length, -1))


class LinearSpaceAttention(nn.Module):
    """RMSNorm + Taylor linear attention over the H*W positions of each frame.

    Shape:
        - x: `[B, C, F, H, W]` -> same shape
    """

    def __init__(self, dim: int, dim_head: int = 8, heads: int = 16) -> None:
        super().__init__()
        self.norm = RMSNorm(dim)
        self.attn = TaylorLinearAttention(dim, dim_head, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _space_untokens(self.attn(self.norm(_space_tokens(x))), x)


class SpaceAttention(nn.Module):
    """RMSNorm + softmax attention over each frame's H*W positions, with `mem_kv` learned
    key/value slots prepended (no biases).

    Shape:
        - x: `[B, C, F, H, W]` -> same shape
    """

    def __init__(self, dim: int, dim_head: int = 32, heads: int = 8, num_memory_kv: int = 4,
                 flash: bool = False) -> None:
        super().__init__()
        self.heads, self.flash = heads, flash
        inner = dim_head * heads
        self.mem_kv = nn.Parameter(torch.randn(2, heads, num_memory_kv, dim_head))
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Sequential(nn.Linear(dim, 3 * inner, bias=False))
        self.to_out = nn.Sequential(nn.Identity(), nn.Linear(inner, dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.norm(_space_tokens(x))
        n, length, _ = tokens.shape
        q, k, v = self.to_qkv(tokens).view(n, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        mem_k, mem_v = (m.unsqueeze(0).expand(n, -1, -1, -1) for m in self.mem_kv)
        k, v = torch.cat([mem_k, k], dim=2), torch.cat([mem_v, v], dim=2)
        if self.flash and x.is_cuda:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.einsum("bhid,bhjd->bhij", q, k) * q.shape[-1] ** -0.5
            out = torch.einsum("bhij,bhjd->bhid", scores.softmax(dim=-1), v)
        return _space_untokens(self.to_out(out.transpose(1, 2).reshape(n, length, -1)), x)


class GEGLU(nn.Module):
    """First channel half times GELU of the second half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = x.chunk(2, dim=1)
        return F.gelu(gate) * value


class FeedForward(nn.Module):
    """Channel RMSNorm -> 1x1x1 conv to 2 * inner -> GEGLU -> 1x1x1 conv back,
    inner = int(dim * 8 / 3).

    Shape:
        - x: `[B, C, F, H, W]` -> same shape
    """

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        inner = int(dim * mult * 2 / 3)
        self.norm = RMSNorm(dim, channel_first=True)
        self.net = nn.Sequential(nn.Conv3d(dim, 2 * inner, 1), GEGLU(), nn.Conv3d(inner, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class _ChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(1, -1)


class _ChannelsFirst(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1)


class EncoderPath(nn.Module):
    """Conv3d(1 -> init, k 'same') then the layer list, then LayerNorm over channels.

    Shape:
        - lips: `[B, 1, F, S, S]` -> `[B, C, F, S / 8, S / 8]` (C = 32, S = 88 -> 11 as released)
    """

    def __init__(self, layers: Sequence[str], image_size: int = 88, in_channel: int = 1,
                 init_channel: int = 4, max_dim: int = 32, input_conv_kernel_size=(7, 7, 7),
                 residual_conv_kernel_size: int = 3, attn_dim_head: int = 32,
                 attn_heads: int = 8, flash_attn: bool = False, linear_attn_dim_head: int = 8,
                 linear_attn_heads: int = 16) -> None:
        super().__init__()
        self.conv_in = nn.Conv3d(in_channel, init_channel, tuple(input_conv_kernel_size),
                                 padding="same")
        self.encoder_layers = nn.ModuleList()
        dim, size = init_channel, image_size
        for kind in layers:
            out = dim
            if kind == "residual":
                layer: nn.Module = residual_unit(dim, residual_conv_kernel_size)
            elif kind == "consecutive_residual":
                layer = nn.Sequential(residual_unit(dim, residual_conv_kernel_size),
                                      residual_unit(dim, residual_conv_kernel_size))
            elif kind == "compress_space":
                out = min(2 * dim, max_dim)
                layer = SpatialDownsample(dim, out)
                size = (size + 1) // 2
            elif kind == "attend_space":
                layer = nn.Sequential(
                    Residual(SpaceAttention(dim, attn_dim_head, attn_heads, flash=flash_attn)),
                    Residual(FeedForward(dim)))
            elif kind == "linear_attend_space":
                layer = nn.Sequential(
                    Residual(LinearSpaceAttention(dim, linear_attn_dim_head, linear_attn_heads)),
                    Residual(FeedForward(dim)))
            else:
                raise ValueError(f"unsupported video encoder layer {kind!r}")
            self.encoder_layers.append(layer)
            dim = out
        self.encoder_layers.append(nn.Sequential(_ChannelsLast(), nn.LayerNorm(dim),
                                                 _ChannelsFirst()))
        self.out_dim, self.out_size = dim, size

    def features(self, lips: torch.Tensor) -> torch.Tensor:
        """`[B, 1, F, S, S]` -> `[B, F, C * s * s]` (feature index c * s^2 + h * s + w)."""
        x = self.conv_in(lips)
        for layer in self.encoder_layers:
            x = layer(x)
        return x.transpose(1, 2).flatten(2)


class Codebook(nn.Module):
    """The codebook buffers of vector-quantize-pytorch's `EuclideanCodebook` (one codebook)."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("initted", torch.tensor([0.0]))
        self.register_buffer("cluster_size", torch.zeros(1, size))
        self.register_buffer("embed_avg", torch.zeros(1, size, dim))
        self.register_buffer("embed", torch.zeros(1, size, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code (Euclidean) per vector: `[..., dim]` -> int64 `[...]`."""
        # checked on every eager call; a compiled graph is verified against an eager call, so
        # the check stays out of the traced graph (its data-dependent branch cannot be traced)
        if not torch.compiler.is_compiling() and not bool(self.initted.item()):
            raise RuntimeError("Dolphin's video codebook is not initialised (initted = 0): "
                               "load trained weights before running the model")
        embed = self.embed[0].to(z.dtype)
        dist = (z.pow(2).sum(-1, keepdim=True) - 2 * z @ embed.t()
                + embed.pow(2).sum(-1))
        return dist.argmin(dim=-1)


class _VQLayer(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self._codebook = Codebook(size, dim)


class VectorQuantizer(nn.Module):
    """One-codebook residual VQ at inference: project_in -> nearest code -> project_out.

    Shape:
        - z: `[B, F, D]` -> (`[B, F, D]` quantised, int64 codes `[B, F]`)
    """

    def __init__(self, dim: int, codebook_size: int = 256, codebook_dim: int = 64) -> None:
        super().__init__()
        self.project_in = nn.Linear(dim, codebook_dim)
        self.project_out = nn.Linear(codebook_dim, dim)
        self.layers = nn.ModuleList([_VQLayer(codebook_size, codebook_dim)])

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codebook = self.layers[0]._codebook
        codes = codebook(self.project_in(z))
        quantised = codebook.embed[0].to(z.dtype)[codes]
        return self.project_out(quantised), codes


class SemanticPath(EncoderPath):
    """Encoder path + vector quantiser: only the chosen codes reach the output."""

    def __init__(self, layers: Sequence[str], codebook_size: int = 256, codebook_dim: int = 64,
                 **kwargs) -> None:
        super().__init__(layers, **kwargs)
        self.quantizer = VectorQuantizer(self.out_dim * self.out_size ** 2, codebook_size,
                                         codebook_dim)

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        return self.quantizer(self.features(lips))[0]


class ReconstructionPath(EncoderPath):
    """Encoder path whose flattened output is added to the semantic path's."""

    def forward(self, lips: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        return self.features(lips) + semantic


class VideoEncoder(nn.Module):
    """DP-LipCoder: `recon_model(lips) + semantic_model(lips)`.

    Input format (as Dolphin's `Inference.py` feeds it): grey mouth crops at 25 fps, 88x88,
    `(uint8 / 255 - 0.421) / 0.165` -- exactly the avss-bench lip contract, so no conversion.

    Shape:
        - lips: `[B, 1, F, 88, 88]` -> `[B, F, 3872]` (32 channels x 11 x 11 per frame)
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS, image_size: int = 88,
                 in_channel: int = 1, init_channel: int = 4, max_dim: int = 32,
                 input_conv_kernel_size=(7, 7, 7), residual_conv_kernel_size: int = 3,
                 attn_dim_head: int = 32, attn_heads: int = 8, flash_attn: bool = False,
                 linear_attn_dim_head: int = 8, linear_attn_heads: int = 16,
                 num_quantizers: int = 1, codebook_size: int = 256,
                 codebook_dim: int = 64) -> None:
        super().__init__()
        if num_quantizers != 1:
            raise ValueError("only one quantizer (the released configuration) is implemented")
        kwargs = dict(image_size=image_size, in_channel=in_channel, init_channel=init_channel,
                      max_dim=max_dim, input_conv_kernel_size=input_conv_kernel_size,
                      residual_conv_kernel_size=residual_conv_kernel_size,
                      attn_dim_head=attn_dim_head, attn_heads=attn_heads,
                      flash_attn=flash_attn, linear_attn_dim_head=linear_attn_dim_head,
                      linear_attn_heads=linear_attn_heads)
        self.semantic_model = SemanticPath(list(layers), codebook_size, codebook_dim, **kwargs)
        self.recon_model = ReconstructionPath(list(layers), **kwargs)
        self.out_features = self.semantic_model.out_dim * self.semantic_model.out_size ** 2

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        return self.recon_model(lips, self.semantic_model(lips))

    def codes(self, lips: torch.Tensor) -> torch.Tensor:
        """The semantic path's code index per frame: `[B, 1, F, 88, 88]` -> int64 `[B, F]`."""
        z = self.semantic_model.features(lips)
        return self.semantic_model.quantizer(z)[1]
