"""IIANet building blocks (ICML 2024), written from the architecture spec.

Every module carries the attribute names of the official implementation, so that a state dict
in the official key layout (`sm.audio_blocks.0.proj_1x1.conv.weight`, ...) loads unchanged.
Names in the paper and here:

* IntraA (`SelectAttention`): `local ⊙ sigmoid(up(act(global))) + up(emb(global))`.
* A-BU / A-TD (`AudioBottomUp` / `AudioTopDown`): the audio multi-scale encoder/decoder; A-TD
  holds the InterA-M gates (visual features, resampled by nearest-neighbour repetition).
* V-BU / V-TD (`VideoBottomUp` / `VideoTopDown`).
* InterA-T (`TopFusion`, the official `MLPFusion`): cross-modal fusion at the coarsest scale plus
  an audio and a video self-block.
* InterA-B (`InterA_B_A`, `InterA_B_V`): the inter-cycle connections (per-channel affine + act).
* `Recurrent` (`sm`): one instance of each block, reused in every cycle (full weight sharing).

All tensors are `[B, C, T]`. GLN = `GroupNorm(1, C, eps=1e-8)` (statistics over C and T).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GLN_EPS = 1e-8


def gln(channels: int) -> nn.GroupNorm:
    """Global layer norm: one group, statistics over channels and time, per-channel affine."""
    return nn.GroupNorm(1, channels, eps=GLN_EPS)


def nearest(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour resampling of the time axis to `length` (PyTorch's 'nearest' rule)."""
    if x.shape[-1] == length:
        return x
    return F.interpolate(x, size=length, mode="nearest")


def depthwise_conv1d(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """`conv(x)` for a depthwise Conv1d; on CPU in float64, or when traced for a compiled
    graph, as k shifted multiply-adds.

    PyTorch has no vectorised float64 depthwise kernel on CPU (it runs one small convolution per
    channel); the shifted sum is the same arithmetic, ~50x faster there. A compiled graph
    (`avss_bench.models.inference`) fuses the k multiply-adds into one pass over `x`, which
    beats oneDNN's depthwise kernel on these long [C, T] maps. Otherwise the convolution itself.
    """
    if x.device.type != "cpu" or not (x.dtype == torch.float64 or torch.compiler.is_compiling()):
        return conv(x)
    kernel, stride, pad = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    padded = F.pad(x, (pad, pad))
    out_len = (padded.shape[-1] - kernel) // stride + 1
    span = stride * (out_len - 1) + 1
    taps = conv.weight[:, 0, :].t().unsqueeze(-1)              # [k, C, 1]
    y = padded[..., 0:span:stride] * taps[0]
    for k in range(1, kernel):
        y = torch.addcmul(y, padded[..., k:k + span:stride], taps[k])
    return y if conv.bias is None else y + conv.bias.view(-1, 1)


def _repeat_counts(src_len: int, dst_len: int) -> torch.Tensor:
    """How often each source frame occurs in `nearest(x, dst_len)` (PyTorch's index rule).

    Cached per lengths. Traced for a compiled graph, the counts are computed outside torch
    (`_count_repeats_numpy`, the same float32 index rule) so that the graph holds them as a
    constant and no traced tensor reaches the cache that eager calls read."""
    if torch.compiler.is_compiling():
        return torch.from_numpy(_count_repeats_numpy(src_len, dst_len))
    return _cached_repeat_counts(src_len, dst_len)


def _count_repeats_numpy(src_len: int, dst_len: int) -> np.ndarray:
    """`_count_repeats` in numpy: PyTorch's nearest index is min(floor(i * (src / dst)),
    src - 1) in float32 (and i // 2 for an exact doubling, which the float rule also gives)."""
    scale = np.float32(src_len) / np.float32(dst_len)
    index = np.floor(np.arange(dst_len, dtype=np.float32) * scale).astype(np.int64)
    if dst_len == 2 * src_len:
        index = np.arange(dst_len, dtype=np.int64) // 2
    index = np.minimum(index, src_len - 1) if dst_len != src_len else np.arange(dst_len)
    return np.bincount(index, minlength=src_len).astype(np.int64)


@lru_cache(maxsize=256)
def _cached_repeat_counts(src_len: int, dst_len: int) -> torch.Tensor:
    return _count_repeats(src_len, dst_len)


def _count_repeats(src_len: int, dst_len: int) -> torch.Tensor:
    ramp = torch.arange(src_len, dtype=torch.float32).view(1, 1, -1)
    index = F.interpolate(ramp, size=dst_len, mode="nearest").view(-1).long()
    return torch.bincount(index, minlength=src_len)


def group_norm_of_upsampled(y: torch.Tensor, dst_len: int, norm: nn.GroupNorm) -> torch.Tensor:
    """`norm(nearest(y, dst_len))` computed at y's (coarse) length, before the upsampling.

    One-group GroupNorm statistics of the upsampled tensor are the repeat-count-weighted
    statistics of `y`; the normalisation itself is per element, so it commutes with the
    nearest-neighbour repetition. Same result as upsampling first (up to float rounding),
    without touching `dst_len`-long tensors.
    """
    counts = _repeat_counts(y.shape[-1], dst_len).to(device=y.device, dtype=y.dtype)
    weights = counts.view(1, 1, -1)
    total = dst_len * y.shape[1]
    mean = (y * weights).sum(dim=(1, 2), keepdim=True) / total
    centred = y - mean
    var = (centred.square() * weights).sum(dim=(1, 2), keepdim=True) / total
    scale = torch.rsqrt(var + norm.eps)
    return centred * scale * norm.weight.view(1, -1, 1) + norm.bias.view(1, -1, 1)


class ConvNorm(nn.Module):
    """Conv1d with 'same' padding ((k-1)//2), then GLN.

    Shape:
        - x: `[B, C_in, T]` -> `[B, C_out, ceil(T / stride)]`
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=(kernel - 1) // 2,
                              groups=groups, bias=bias)
        self.norm = gln(out_ch)
        self._depthwise = groups == in_ch == out_ch
        # A depthwise 1x1 conv is a per-channel scale (+ shift): done as one elementwise op.
        self._pointwise = self._depthwise and kernel == 1 and stride == 1

    def apply_conv(self, x: torch.Tensor) -> torch.Tensor:
        if self._pointwise:
            y = x * self.conv.weight.view(1, -1, 1)
            return y if self.conv.bias is None else y + self.conv.bias.view(1, -1, 1)
        if self._depthwise:
            return depthwise_conv1d(x, self.conv)
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.apply_conv(x))


class ConvNormAct(ConvNorm):
    """ConvNorm followed by an activation (`prelu`: one shared slope, or `gelu`)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, act: str = "prelu") -> None:
        super().__init__(in_ch, out_ch, kernel, bias=True)
        self.act = nn.PReLU() if act == "prelu" else nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth per example (identity in eval mode or for p == 0)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class SelectAttention(nn.Module):
    """IntraA: gate a local (finer) feature by a global (coarser) one, add the global one.

    Three depthwise ConvNorm branches (kernel k, no bias):
    `out = local_embedding(x_l) * up(sigmoid(global_act(x_g))) + up(global_embedding(x_g))`.

    Shape:
        - x_l: `[B, C, T_l]`, x_g: `[B, C, T_g]` with T_g <= T_l -> `[B, C, T_l]`
    """

    def __init__(self, channels: int, kernel: int = 1) -> None:
        super().__init__()
        self.kernel = kernel
        self.local_embedding = ConvNorm(channels, channels, kernel, groups=channels, bias=False)
        self.global_embedding = ConvNorm(channels, channels, kernel, groups=channels, bias=False)
        self.global_act = ConvNorm(channels, channels, kernel, groups=channels, bias=False)

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor,
                upsample_global_first: bool = False) -> torch.Tensor:
        """`upsample_global_first`: the official code feeds `nearest(x_g, T_l)` (A-TD's fusion
        with G_a); with k=1 the branches are computed at x_g's length with the equivalent
        norm statistics, then upsampled (identical maths, far less memory traffic)."""
        length = x_l.shape[-1]
        if upsample_global_first and x_g.shape[-1] != length:
            if self.kernel != 1:
                x_g = nearest(x_g, length)
            else:
                act = group_norm_of_upsampled(
                    self.global_act.apply_conv(x_g), length, self.global_act.norm)
                emb = group_norm_of_upsampled(
                    self.global_embedding.apply_conv(x_g), length, self.global_embedding.norm)
                gate = nearest(torch.sigmoid(act), length)
                return torch.addcmul(nearest(emb, length), self.local_embedding(x_l), gate)
        gate = nearest(torch.sigmoid(self.global_act(x_g)), length)
        glob = nearest(self.global_embedding(x_g), length)
        return torch.addcmul(glob, self.local_embedding(x_l), gate)


class _BottomUp(nn.Module):
    """Shared body of A-BU and V-BU: 1x1 projection, then a pyramid of depthwise convs.

    Returns the per-scale features (finest first) and the pooled global summary: every scale
    adaptive-average-pooled to the coarsest length and summed.
    """

    def __init__(self, in_ch: int, hid_ch: int, depth: int, kernel: int, act: str) -> None:
        super().__init__()
        self.depth = depth
        self.proj_1x1 = ConvNormAct(in_ch, hid_ch, 1, act=act)
        self.spp_dw = nn.ModuleList(
            ConvNorm(hid_ch, hid_ch, kernel, stride=1 if i == 0 else 2, groups=hid_ch)
            for i in range(depth))

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        scales = []
        y = self.proj_1x1(x)
        for conv in self.spp_dw:
            y = conv(y)
            scales.append(y)
        coarsest = scales[-1].shape[-1]
        pooled = [F.adaptive_avg_pool1d(s, coarsest) for s in scales[:-1]] + [scales[-1]]
        return scales, torch.stack(pooled, dim=1).sum(dim=1)


class AudioBottomUp(_BottomUp):
    """A-BU: 1x1 conv (out_channels -> in_channels) + GLN + PReLU, depthwise k5 pyramid.

    Shape:
        - x: `[B, N, T]` -> scales `[B, H, ceil(T / 2^i)]` (i = 0..depth-1), global `[B, H, T_c]`
    """

    def __init__(self, out_channels: int = 128, in_channels: int = 512, depth: int = 5) -> None:
        super().__init__(out_channels, in_channels, depth, kernel=5, act="prelu")


class VideoBottomUp(_BottomUp):
    """V-BU: 1x1 conv + GLN + GELU, depthwise k3 pyramid (video width).

    Shape:
        - v: `[B, Cv, F]` -> scales `[B, Cv, ceil(F / 2^i)]`, global `[B, Cv, F_c]`
    """

    def __init__(self, vin_channels: int = 64, vout_channels: int = 64, depth: int = 5) -> None:
        super().__init__(vin_channels, vout_channels, depth, kernel=3, act="gelu")


def _top_down(fused: list[torch.Tensor], merge: nn.ModuleList) -> torch.Tensor:
    """Merge scales coarse-to-fine with the k=5 IntraA blocks (`merge[i](finer, coarser)`)."""
    y = fused[-1]
    for i in range(len(fused) - 2, -1, -1):
        y = merge[i](fused[i], y)
    return y


class AudioTopDown(nn.Module):
    """A-TD with InterA-M: fuse each scale with the global feature, gate by video, merge.

    For each scale i: `t_i = IntraA_i(o_i, up(G_a))`; with video `t_i = t_i + sigmoid(up(m_i)) *
    t_i`; then coarse-to-fine merging; `out = res_conv(e) + residual`.

    Shape:
        - residual `[B, N, T]`, scales `[B, H, T_i]`, global_f `[B, H, T_c]`,
          video_gates `[B, H, F_i]` or None -> `[B, N, T]`
    """

    def __init__(self, out_channels: int = 128, in_channels: int = 512, depth: int = 5) -> None:
        super().__init__()
        self.depth = depth
        self.res_conv = nn.Conv1d(in_channels, out_channels, 1)
        self.loc_glo_fus = nn.ModuleList(SelectAttention(in_channels, 1) for _ in range(depth))
        self.last_layer = nn.ModuleList(SelectAttention(in_channels, 5) for _ in range(depth - 1))

    def forward(self, residual: torch.Tensor, scales: list[torch.Tensor], global_f: torch.Tensor,
                video_gates: list[torch.Tensor] | None = None) -> torch.Tensor:
        fused = []
        for i, o in enumerate(scales):
            length = o.shape[-1]
            t = self.loc_glo_fus[i](o, global_f, upsample_global_first=True)
            if video_gates is not None:  # InterA-M; sigmoid commutes with the repetition
                t = torch.addcmul(t, nearest(torch.sigmoid(video_gates[i]), length), t)
            fused.append(t)
        return self.res_conv(_top_down(fused, self.last_layer)) + residual


class VideoTopDown(nn.Module):
    """V-TD: fuse each video scale with G_v, merge coarse-to-fine, emit per-scale audio gates.

    Shape:
        - residual `[B, Cv, F]`, scales `[B, Cv, F_i]`, global_f `[B, Cv, F_c]`
          -> (`[B, Cv, F]`, gates: list of `[B, H, F_i]`)
    """

    def __init__(self, in_channels: int = 512, vin_channels: int = 64, vout_channels: int = 64,
                 depth: int = 5) -> None:
        super().__init__()
        self.depth = depth
        self.loc_glo_fus = nn.ModuleList(SelectAttention(vout_channels, 1) for _ in range(depth))
        self.res_conv = nn.Conv1d(vout_channels, vin_channels, 1)
        self.last_layer = nn.ModuleList(
            SelectAttention(vout_channels, 5) for _ in range(depth - 1))
        self.video_res = nn.ModuleList(
            ConvNorm(vout_channels, in_channels, 3, bias=False) for _ in range(depth))

    def forward(self, residual: torch.Tensor, scales: list[torch.Tensor], global_f: torch.Tensor,
                need_output: bool = True) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        fused = [fus(u, global_f) for fus, u in zip(self.loc_glo_fus, scales, strict=True)]
        gates = [conv(f) for conv, f in zip(self.video_res, fused, strict=True)]
        if not need_output:  # the last AV cycle's video result is never used
            return None, gates
        return self.res_conv(_top_down(fused, self.last_layer)) + residual, gates


class Mlp(nn.Module):
    """1x1 ConvNorm (C -> 2C) -> depthwise k5 conv -> ReLU -> Dropout -> 1x1 ConvNorm -> Dropout."""

    def __init__(self, channels: int, hidden: int, drop: float = 0.1) -> None:
        super().__init__()
        self.fc1 = ConvNorm(channels, hidden, 1, bias=False)
        self.dwconv = nn.Conv1d(hidden, hidden, 5, padding=2, groups=hidden, bias=True)
        self.fc2 = ConvNorm(hidden, channels, 1, bias=False)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(torch.relu(depthwise_conv1d(self.fc1(x), self.dwconv)))
        return self.drop(self.fc2(x))


class AudioSelfBlock(nn.Module):
    """InterA-T's audio self-block (official `GlobalAttention`): two residual branches."""

    def __init__(self, channels: int, drop_path: float = 0.1) -> None:
        super().__init__()
        self.attn = ConvNorm(channels, channels, 3, bias=False)
        self.mlp = Mlp(channels, 2 * channels, drop=0.1)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(x), self.drop_path, self.training)
        return x + drop_path(self.mlp(x), self.drop_path, self.training)


class VideoSelfBlock(nn.Module):
    """InterA-T's video self-block (official `VideoAttention`): two residual k3 ConvNorms."""

    def __init__(self, channels: int, drop_path: float = 0.1) -> None:
        super().__init__()
        self.attn = ConvNorm(channels, channels, 3, bias=False)
        self.mlp = ConvNorm(channels, channels, 3, bias=False)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(x), self.drop_path, self.training)
        return x + drop_path(self.mlp(x), self.drop_path, self.training)


class TopFusion(nn.Module):
    """InterA-T (official `MLPFusion`): cross-modal gating at the coarsest scale, self-blocks.

    With video: `a' = a + W_wav(up(w) * sigmoid(M_wav(a)))`, `w' = w + W_video(down(a) *
    sigmoid(M_video(w)))` (both from the old a, w), then `amlp(a')`, `vmlp(w')`.
    Without video (audio-only cycles): `amlp(a)` only.

    Shape:
        - a: `[B, H, T_c]`, w: `[B, Cv, F_c]` or None -> same shapes
    """

    def __init__(self, in_channels: int = 512, vout_channels: int = 64,
                 drop_path: float = 0.1) -> None:
        super().__init__()
        self.W_wav = ConvNorm(vout_channels, in_channels, 1)
        self.W_video = ConvNorm(in_channels, vout_channels, 1)
        self.M_wav = ConvNorm(in_channels, vout_channels, 3, bias=False)
        self.M_video = ConvNorm(vout_channels, in_channels, 5, bias=False)
        self.amlp = AudioSelfBlock(in_channels, drop_path)
        self.vmlp = VideoSelfBlock(vout_channels, drop_path)

    def forward(self, a: torch.Tensor, w: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if w is None:
            return self.amlp(a), None
        a_to_w = nearest(a, w.shape[-1])
        w_to_a = nearest(w, a.shape[-1])
        a_new = a + self.W_wav(w_to_a * torch.sigmoid(self.M_wav(a)))
        w_new = w + self.W_video(a_to_w * torch.sigmoid(self.M_video(w)))
        return self.amlp(a_new), self.vmlp(w_new)


class Recurrent(nn.Module):
    """The separation network `sm`: `num_blocks` cycles over one shared set of blocks.

    Cycles `0 .. av_cycles-1` are audio-visual (A-BU, V-BU, InterA-T, V-TD, A-TD with video
    gates); the remaining cycles are audio-only (A-BU, InterA-T audio self-block, A-TD). Before
    every cycle after the first the inputs are `InterA_B_A(x + x_enc)` and
    `InterA_B_V(v + v_enc)`.

    Shape:
        - x: `[B, N, T]` (bottleneck features), v: `[B, Cv, F]` -> `[B, N, T]`
    """

    def __init__(self, out_channels: int = 128, in_channels: int = 512, vin_channels: int = 64,
                 vout_channels: int = 64, upsampling_depth: int = 5, num_blocks: int = 16,
                 av_cycles: int = 4) -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.av_cycles = av_cycles
        self.audio_blocks = nn.ModuleList([
            AudioBottomUp(out_channels, in_channels, upsampling_depth),
            AudioTopDown(out_channels, in_channels, upsampling_depth),
        ])
        self.video_blocks = nn.ModuleList([
            VideoBottomUp(vin_channels, vout_channels, upsampling_depth),
            VideoTopDown(in_channels, vin_channels, vout_channels, upsampling_depth),
        ])
        self.InterA_T = TopFusion(in_channels, vout_channels)
        self.InterA_B_A = nn.Sequential(
            nn.Conv1d(out_channels, out_channels, 1, groups=out_channels), nn.PReLU())
        self.InterA_B_V = nn.Sequential(
            nn.Conv1d(vout_channels, vout_channels, 1, groups=vout_channels), nn.ReLU())

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        a_bu, a_td = self.audio_blocks
        v_bu, v_td = self.video_blocks
        x_enc, v_enc = x, v
        n_av = min(self.av_cycles, self.num_blocks)
        for i in range(self.num_blocks):
            if i > 0:
                x = _inter_cycle(self.InterA_B_A, x + x_enc)
            scales_a, global_a = a_bu(x)
            if i < n_av:
                if i > 0:
                    v = _inter_cycle(self.InterA_B_V, v + v_enc)
                scales_v, global_v = v_bu(v)
                global_a, global_v = self.InterA_T(global_a, global_v)
                v_next, gates = v_td(v, scales_v, global_v, need_output=i < n_av - 1)
                x = a_td(x, scales_a, global_a, gates)
                if v_next is not None:
                    v = v_next
            else:
                global_a, _ = self.InterA_T(global_a, None)
                x = a_td(x, scales_a, global_a, None)
        return x


def _inter_cycle(block: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`block(x)` for InterA-B (depthwise 1x1 Conv1d, activation); traced for a compiled graph
    as the per-channel multiply-add it is, which fuses with the sum before and the activation
    after (PyTorch runs a grouped convolution one group at a time on CPU)."""
    if not torch.compiler.is_compiling():
        return block(x)
    conv, act = block
    y = x * conv.weight.view(1, -1, 1)
    return act(y if conv.bias is None else y + conv.bias.view(1, -1, 1))
