"""Dolphin's audio-side and fusion blocks, named so that the official state-dict keys come out
unchanged (`separator.enc_stages.{k}.g_block_1.block.DU_MHSA...`, `video_blocks.*`, ...).

Heat1D's DCT matrices are cached once per (length, dtype, device) for all modules (the official
code keeps one copy per module, ~256 MB each at 8000 frames); see `clear_dct_cache`.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Heat1D", "Separator", "UConvBlock", "AVFModule", "ConvNormAct", "clear_dct_cache"]

_DCT_CACHE: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_DCT_CACHE_SIZE = 12


def clear_dct_cache() -> None:
    """Free the cached Heat1D DCT matrices (they are rebuilt on the next forward)."""
    _DCT_CACHE.clear()


def _dct_maps(length: int, dtype: torch.dtype, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal DCT-II matrix W[n, t] and decay exp(-(n pi / T)^2), in `dtype`.

    Built with the official operation order in the requested dtype (float32 for float32 runs,
    like the released code; float64 for float64 runs).
    """
    key = (length, dtype, device)
    tracing = torch.compiler.is_compiling()  # a traced tensor must never reach the cache
    if key in _DCT_CACHE and not tracing:
        _DCT_CACHE.move_to_end(key)
        return _DCT_CACHE[key]
    t = (torch.linspace(0, length - 1, length, device=device, dtype=dtype).view(1, -1) + 0.5)
    t = t / length
    n = torch.linspace(0, length - 1, length, device=device, dtype=dtype).view(-1, 1)
    basis = torch.cos(n * t * torch.pi) * math.sqrt(2 / length)
    basis[0, :] = basis[0, :] / math.sqrt(2)
    freqs = torch.linspace(0, torch.pi, length + 1, device=device, dtype=dtype)[:length]
    decay = torch.exp(-torch.pow(freqs, 2))
    if tracing:
        return basis, decay
    _DCT_CACHE[key] = (basis, decay)
    while len(_DCT_CACHE) > _DCT_CACHE_SIZE:
        _DCT_CACHE.popitem(last=False)
    return basis, decay


class Heat1D(nn.Module):
    """Heat-equation mixing along time: DCT, decay exp(-(n pi / T)^2)^k per channel, inverse DCT.

    u, z = grouped conv(depthwise conv(x)); y = IDCT(DCT(u) * decay^k); out =
    out_linear(LayerNorm(y) * SiLU(z)). `to_k` exists in the official module but is never used
    (kept so that official weights load).

    Shape:
        - x: `[B, T, C]` -> `[B, T, C]`
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.linear = nn.Conv1d(dim, 2 * dim, 3, padding=1, groups=dim)
        self.out_norm = nn.LayerNorm(dim)
        self.out_linear = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.to_k = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1, groups=dim), nn.GELU())
        self.k = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        u, z = self.linear(self.dwconv(x.transpose(1, 2))).chunk(2, dim=1)
        basis, decay = _dct_maps(length, x.dtype, x.device)
        # DCT along time: W [T, T] @ u [B, T, C] (the official code runs the same product as
        # a 1x1 conv1d over T channels); decay per frequency and channel; inverse = W^T @.
        coef = torch.matmul(basis, u.transpose(1, 2)) * torch.pow(decay[:, None], self.k)
        y = torch.matmul(basis.t(), coef)                                   # [B, T, C]
        y = self.out_norm(y) * F.silu(z.transpose(1, 2))
        return self.out_linear(y.transpose(1, 2)).transpose(1, 2)


class LayerScale(nn.Module):
    """Per-channel scale `layer_scale` [1, 1, C]."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((1, 1, dim), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.layer_scale


class FFN(nn.Module):
    """x + LayerScale(Linear(GLU(depthwise conv_t(Linear(LayerNorm(x)))))), widths C->3C->C.

    Shape:
        - x: `[B, T, C]` -> same shape
    """

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.net1 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 3 * dim))
        self.depthwise = nn.Conv1d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim)
        self.net2 = nn.Sequential(nn.GLU(), nn.Dropout(dropout), nn.Linear(3 * dim // 2, dim),
                                  nn.Dropout(dropout))
        self.Layer_scale = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.net1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.Layer_scale(self.net2(y))


class MultiHeadAttention(nn.Module):
    """LayerNorm -> MHA with optional relative key positions -> linear_out -> LayerScale.
    No residual inside (the callers add it, or not, as the official code does).

    scores = (q k^T + q pos_k^T) / sqrt(d_head), pos_k `[T, T, d_head]`.

    Shape:
        - x: `[B, T, C]`, pos_k: `[T, T, C / heads]` or None -> `[B, T, C]`
    """

    def __init__(self, heads: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.layer_norm = nn.LayerNorm(dim)
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.Layer_scale = LayerScale(dim)

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor | None) -> torch.Tensor:
        batch, length, dim = x.shape
        x = self.layer_norm(x)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, -1).transpose(1, 2)   # [B, h, T, d]

        q, k, v = heads(self.linear_q(x)), heads(self.linear_k(x)), heads(self.linear_v(x))
        scores = torch.matmul(q, k.transpose(-2, -1))
        if pos_k is not None:
            scores = scores + torch.einsum("bhid,ijd->bhij", q, pos_k)
        attn = self.dropout(torch.softmax(scores / math.sqrt(q.shape[-1]), dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(batch, length, dim)
        return self.Layer_scale(self.dropout(self.linear_out(out)))


class DU_MHSA(nn.Module):  # noqa: N801 - official module name (state-dict key)
    """Attention at a fixed coarse length T' (average-pooled), nearest-upsampled, gated:
    x + sigmoid(Linear(LayerNorm(x))) * up(MHA(pool(x))).

    Shape:
        - x: `[B, C, T]`, pos_k `[T', T', d]` -> `[B, T, C]`
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.block = nn.ModuleDict({
            "self_attn": MultiHeadAttention(heads, dim, dropout),
            "linear": nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Sigmoid()),
        })

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor) -> torch.Tensor:
        down = F.adaptive_avg_pool1d(x, pos_k.shape[0]).transpose(1, 2)
        down = self.block["self_attn"](down, pos_k).transpose(1, 2)
        up = F.interpolate(down, size=x.shape[-1], mode="nearest").transpose(1, 2)
        x = x.transpose(1, 2)
        return x + self.block["linear"](x) * up


class GlobalBlock(nn.Module):
    """DU_MHSA then FFN. Shape: x `[B, C, T]` -> `[B, C, T]`."""

    def __init__(self, in_channels: int, num_mha_heads: int, dropout_rate: float) -> None:
        super().__init__()
        self.block = nn.ModuleDict({"DU_MHSA": DU_MHSA(in_channels, num_mha_heads, dropout_rate),
                                    "FFN": FFN(in_channels, dropout_rate)})

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor) -> torch.Tensor:
        return self.block["FFN"](self.block["DU_MHSA"](x, pos_k)).transpose(1, 2)


class CLA(nn.Module):
    """x + LayerScale(GN2(conv3(GELU(dwconv65(GN1(Heat1D(x))))))).

    Shape:
        - x: `[B, T, C]` -> same shape
    """

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.heat1d = Heat1D(dim)
        self.GN1 = nn.GroupNorm(1, dim)
        self.dw_conv_1d = nn.Conv1d(dim, dim, kernel_size, padding="same", groups=dim)
        self.GN2 = nn.GroupNorm(1, dim)
        self.linear3 = nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, 3, padding=1, groups=dim),
                                     nn.Dropout(dropout))
        self.Layer_scale = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.GN1(self.heat1d(x).transpose(1, 2))
        y = self.GN2(self.linear3(self.dw_conv_1d(y)))
        return x + self.Layer_scale(y.transpose(1, 2))


class LocalBlock(nn.Module):
    """CLA then FFN. Shape: x `[B, C, T]` -> `[B, C, T]`."""

    def __init__(self, in_channels: int, kernel_size: int, dropout_rate: float) -> None:
        super().__init__()
        self.block = nn.ModuleDict({"CLA": CLA(in_channels, kernel_size, dropout_rate),
                                    "FFN": FFN(in_channels, dropout_rate)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block["FFN"](self.block["CLA"](x.transpose(1, 2))).transpose(1, 2)


class DownConvLayer(nn.Module):
    """Depthwise conv (stride 2) -> GroupNorm(1) -> GELU. Shape: `[B, C, T]` -> `[B, C, T/2]`."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.down_conv = nn.Conv1d(dim, dim, kernel_size, stride=2,
                                   padding=(kernel_size - 1) // 2, groups=dim)
        self.GN = nn.GroupNorm(1, dim)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gelu(self.GN(self.down_conv(x)))


class EncoderLayer(nn.Module):
    """G, L, G, L, then the down-sampling conv. Returns (down-sampled x, skip)."""

    def __init__(self, global_blocks: dict, local_blocks: dict, down_conv_layer: dict) -> None:
        super().__init__()
        self.g_block_1 = GlobalBlock(**global_blocks)
        self.l_block_1 = LocalBlock(**local_blocks)
        self.g_block_2 = GlobalBlock(**global_blocks)
        self.l_block_2 = LocalBlock(**local_blocks)
        self.downconv = DownConvLayer(down_conv_layer["in_channels"],
                                      down_conv_layer["samp_kernel_size"])

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.l_block_1(self.g_block_1(x, pos_k))
        skip = self.l_block_2(self.g_block_2(x, pos_k))
        return self.downconv(skip), skip


class DecoderLayer(nn.Module):
    """G, L three times. Shape: `[B, C, T]` -> `[B, C, T]`."""

    def __init__(self, global_blocks: dict, local_blocks: dict) -> None:
        super().__init__()
        for i in (1, 2, 3):
            setattr(self, f"g_block_{i}", GlobalBlock(**global_blocks))
            setattr(self, f"l_block_{i}", LocalBlock(**local_blocks))

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor) -> torch.Tensor:
        for i in (1, 2, 3):
            x = getattr(self, f"l_block_{i}")(getattr(self, f"g_block_{i}")(x, pos_k))
        return x


class HeatConvNorm(nn.Module):
    """Heat1D over time, then a norm (GroupNorm(1, eps 1e-8) or BatchNorm1d).

    Shape:
        - x: `[B, C, T]` -> same shape
    """

    def __init__(self, dim: int, norm_type: str = "gLN") -> None:
        super().__init__()
        self.conv = Heat1D(dim)
        self.norm = _norm(norm_type, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x.transpose(1, 2)).transpose(1, 2))


def _norm(kind: str, dim: int) -> nn.Module:
    if kind == "gLN":
        return nn.GroupNorm(1, dim, eps=1e-8)
    if kind == "BN":
        return nn.BatchNorm1d(dim)
    raise ValueError(f"unsupported norm {kind!r}")


class InjectionMultiSum(nn.Module):
    """local(x_l) * up(sigmoid(act(x_g))) + up(glob(x_g)); every branch a HeatConvNorm and
    `up` a nearest resize to x_l's length.

    Shape:
        - x_l: `[B, C, T_l]`, x_g: `[B, C, T_g]` -> `[B, C, T_l]`
    """

    def __init__(self, dim: int, norm_type: str = "gLN") -> None:
        super().__init__()
        self.local_embedding = HeatConvNorm(dim, norm_type)
        self.global_embedding = HeatConvNorm(dim, norm_type)
        self.global_act = HeatConvNorm(dim, norm_type)

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor) -> torch.Tensor:
        size = x_l.shape[-1]
        gate = F.interpolate(torch.sigmoid(self.global_act(x_g)), size=size, mode="nearest")
        glob = F.interpolate(self.global_embedding(x_g), size=size, mode="nearest")
        return self.local_embedding(x_l) * gate + glob


class RelativePositionalEncoding(nn.Module):
    """Learned relative key positions `pe_k` [2 maxlen, C / heads], offsets clamped."""

    def __init__(self, in_channels: int, num_heads: int, maxlen: int,
                 embed_v: bool = False) -> None:
        super().__init__()
        if embed_v:
            raise ValueError("embed_v (value positions) is not used by Dolphin")
        self.maxlen = maxlen
        self.pe_k = nn.Embedding(2 * maxlen, in_channels // num_heads)

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(length, device=device)
        rel = (pos[:, None] - pos[None, :]).clamp(-self.maxlen, self.maxlen - 1) + self.maxlen
        return self.pe_k(rel)                                               # [T, T, d]


class Separator(nn.Module):
    """The U-shaped separator: `num_stages` encoder stages (halving), a global bottleneck,
    injection fusions of the skips, `num_stages` decoder stages. Pads the input with zeros
    to a multiple of 2^num_stages frames.

    Shape:
        - x: `[B, C, T]` -> `[B, C, T_p]` (T_p = T rounded up to a multiple of 2^num_stages)
    """

    def __init__(self, num_stages: int, relative_positional_encoding: dict, enc_stage: dict,
                 simple_fusion: dict, dec_stage: dict) -> None:
        super().__init__()
        self.num_stages = num_stages
        self.pos_emb = RelativePositionalEncoding(**relative_positional_encoding)
        self.enc_stages = nn.ModuleList([EncoderLayer(**enc_stage) for _ in range(num_stages)])
        glob = enc_stage["global_blocks"]
        self.bottleneck_G = nn.ModuleList([
            MultiHeadAttention(glob["num_mha_heads"], glob["in_channels"], glob["dropout_rate"]),
            FFN(glob["in_channels"], glob["dropout_rate"])])
        dim = simple_fusion["out_channels"]
        self.loc_glo_fus = nn.ModuleList([InjectionMultiSum(dim) for _ in range(num_stages)])
        dec = {k: v for k, v in dec_stage.items() if k != "spk_attention"}  # unused officially
        self.simple_fusion = nn.ModuleList()
        self.dec_stages = nn.ModuleList()
        for _ in range(num_stages):
            self.simple_fusion.append(InjectionMultiSum(dim))
            self.dec_stages.append(DecoderLayer(**dec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unit = 2 ** self.num_stages
        if x.shape[-1] % unit:
            x = F.pad(x, (0, unit - x.shape[-1] % unit))
        padded = x.shape[-1]
        pos_k = self.pos_emb(padded // unit, x.device).to(x.dtype)
        bottleneck_len = padded // 2 ** (self.num_stages - 1)
        skips = []
        fusion = None
        for stage in self.enc_stages:
            x, skip = stage(x, pos_k)
            skips.append(skip)
            pooled = F.adaptive_avg_pool1d(x, bottleneck_len)
            fusion = pooled if fusion is None else fusion + pooled
        glob = self.bottleneck_G[0](fusion.transpose(1, 2), None)
        glob = self.bottleneck_G[1](glob).transpose(1, 2)                 # [B, C, T_p / 8]
        fused = [fus(skip, glob) for fus, skip in zip(self.loc_glo_fus, skips, strict=True)]
        for i in range(self.num_stages):
            x = self.simple_fusion[i](fused[self.num_stages - 1 - i], x)
            x = self.dec_stages[i](x, pos_k)
        return x


class ConvNormAct(nn.Module):
    """Conv1d (padding (k-1)/2, bias) -> GroupNorm(1, eps 1e-8) or BatchNorm1d -> PReLU."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, norm_type: str = "gLN") -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_in, n_out, kernel_size, stride=stride,
                              padding=(kernel_size - 1) // 2, groups=groups)
        self.norm = _norm(norm_type, n_out)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class ConvNorm(nn.Module):
    """Conv1d -> norm (no activation)."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True, norm_type: str = "gLN") -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_in, n_out, kernel_size, stride=stride,
                              padding=(kernel_size - 1) // 2, groups=groups, bias=bias)
        self.norm = _norm(norm_type, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Mlp(nn.Module):
    """fc1 (1x1 conv, no bias, + norm) -> depthwise k5 conv -> ReLU -> fc2 (same as fc1)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.fc1 = ConvNorm(dim, hidden, 1, bias=False)
        self.dwconv = nn.Conv1d(hidden, hidden, 5, 1, 2, groups=hidden)
        self.act = nn.ReLU()
        self.fc2 = ConvNorm(hidden, dim, 1, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.dwconv(self.fc1(x))))))


class UConvBlock(nn.Module):
    """Dolphin's video block: multi-scale depthwise convs, a global Mlp on the coarsest
    scale, injection fusions, a 1x1 conv, + input.

    Args:
        fix_fusion_index: the official reconstruction fuses scale i with scale i - 1 where
            i + 1 (the coarser one) was presumably meant, so `loc_glo_fus.{depth-1}` never
            reaches the output. False (default) reproduces that, as released weights need;
            True uses the coarser scale (a different model: retrain).

    Shape:
        - x: `[B, C, T_v]` -> same shape
    """

    def __init__(self, out_channels: int = 64, in_channels: int = 64, depth: int = 3,
                 norm_type: str = "BN", fix_fusion_index: bool = False) -> None:
        super().__init__()
        self.depth, self.fix_fusion_index = depth, fix_fusion_index
        self.proj_1x1 = ConvNormAct(out_channels, in_channels, 1, norm_type=norm_type)
        self.spp_dw = nn.ModuleList([
            ConvNorm(in_channels, in_channels, 5, stride=1 if i == 0 else 2, groups=in_channels,
                     norm_type=norm_type) for i in range(depth)])
        self.loc_glo_fus = nn.ModuleList([InjectionMultiSum(in_channels, norm_type)
                                          for _ in range(depth)])
        self.res_conv = nn.Conv1d(in_channels, out_channels, 1)
        self.globalatt = Mlp(in_channels, in_channels)
        self.last_layer = nn.ModuleList([InjectionMultiSum(in_channels, norm_type)
                                         for _ in range(depth - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scales = [self.spp_dw[0](self.proj_1x1(x))]
        for conv in self.spp_dw[1:]:
            scales.append(conv(scales[-1]))
        coarse = scales[-1].shape[-1]
        glob = self.globalatt(sum(F.adaptive_avg_pool1d(s, coarse) for s in scales))
        fused = [fus(s, glob) for fus, s in zip(self.loc_glo_fus, scales, strict=True)]
        top = self.depth - 2
        partner = top + 1 if self.fix_fusion_index else top - 1   # official: index top - 1
        out = self.last_layer[top](fused[top], fused[partner])
        for i in range(top - 1, -1, -1):
            out = self.last_layer[i](fused[i], out)
        return self.res_conv(out) + x


class AVFModule(nn.Module):
    """Audio-visual fusion: k1 = key_embed(a) * nearest(resize(v)); att = softmax over video
    time of the mean over `kernel_size` of attention_embed(v), nearest to T; out = k1 +
    att * value_embed(a).

    Shape:
        - a: `[B, Ca, T]`, v: `[B, Cv, Tv]` -> `[B, Ca, T]`
    """

    def __init__(self, chan_a: int, chan_b: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.chan_a, self.kernel_size = chan_a, kernel_size
        self.key_embed = ConvNormAct(chan_a, chan_a, 1, groups=chan_a)
        self.value_embed = ConvNormAct(chan_a, chan_a, 1, groups=chan_a)
        self.resize = ConvNormAct(chan_b, chan_a, 1)
        self.attention_embed = ConvNormAct(chan_b, chan_a * kernel_size, 1, groups=chan_b)

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        batch, _, length = a.shape
        b = F.interpolate(self.resize(v), size=length, mode="nearest")
        att = self.attention_embed(v).view(batch, self.chan_a, self.kernel_size, -1).mean(2)
        att = F.interpolate(torch.softmax(att, dim=-1), size=length, mode="nearest")
        return self.key_embed(a) * b + att * self.value_embed(a)
