"""Building blocks of CTCNet, written from the architecture spec (ARCHITECTURE.md §2).

Module and attribute names follow the official implementation's state-dict layout
(JusperLee/CTCNet, `nichang`), so an official state dict loads key for key; the code itself is
our own. Every tensor is `[B, C, T]` (batch, channels, time frames) unless stated.

Blocks:
* `GlobalLayerNorm` ("gLN"): statistics over channels and time of each example, per-channel
  gamma/beta; both initialised to 1 (the official init, kept on purpose).
* `ConvNorm`, `ConvNormAct`: Conv1d (with bias) -> norm (-> PReLU with one slope).
* `FrcnnSubnetwork`: the multi-scale "FRCNN" block used for both modalities (audio: 512
  channels, depth 5, kernel 5, gLN; video: 64 channels, depth 4, kernel 3, BatchNorm1d).
* `VideoSubnetworks`: the three unshared video FRCNN blocks plus the inter-cycle connections.
* `ThalamicFusion` ("ConcatFC2"): the audio-visual exchange after each audio-visual cycle.
* `FreeFilterbank`, `FilterbankEncoder`, `PaddedEncoder`, `FilterbankDecoder`: the learned
  ("free") analysis / synthesis filterbanks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GLN_EPS = 1e-8


class GlobalLayerNorm(nn.Module):
    """CTCNet's global layer norm (gLN).

    `y = gamma * (x - mean) / sqrt(var + 1e-8) + beta`, with mean and (biased) variance taken
    over all channels and time steps of each example. Numerically it is
    `GroupNorm(1, C, eps=1e-8)`, which is what runs (one fused kernel instead of five ops).

    Both `gamma` and `beta` start at 1 (the official init; a GroupNorm would start beta at 0).
    It only matters for training from scratch: loaded weights overwrite it.

    Shape:
        x: [B, C, T] -> [B, C, T]
    """

    def __init__(self, channels: int, eps: float = GLN_EPS) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, self.gamma, self.beta, self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


class Conv1d(nn.Conv1d):
    """`nn.Conv1d` with a fast float64 CPU path for depthwise convolutions.

    PyTorch runs grouped float64 convolutions on CPU one group at a time (one slow im2col
    call per channel: ~80x slower than float32 here). For depthwise convs in float64 on CPU,
    and when traced for a compiled CPU graph (`avss_bench.models.inference`, which fuses it
    into one pass), this computes the same sum with `unfold` instead; every other case is
    `nn.Conv1d` itself.
    Parameters and state-dict keys are those of `nn.Conv1d`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depthwise = self.groups == self.in_channels == self.out_channels and self.groups > 1
        unfolded = x.dtype == torch.float64 or torch.compiler.is_compiling()  # fused when
        if not (depthwise and unfolded and x.device.type == "cpu"           # compiled
                and self.padding_mode == "zeros" and self.dilation == (1,)):
            return super().forward(x)
        kernel, stride, pad = self.kernel_size[0], self.stride[0], self.padding[0]
        windows = F.pad(x, (pad, pad)).unfold(-1, kernel, stride)   # [B, C, T', k]
        out = (windows * self.weight[:, 0].unsqueeze(1)).sum(-1)   # [B, C, T']
        return out if self.bias is None else out + self.bias.unsqueeze(-1)


def make_norm(kind: str, channels: int) -> nn.Module:
    """`"gLN"` -> GlobalLayerNorm; `"BatchNorm1d"` -> nn.BatchNorm1d (eps 1e-5)."""
    if kind == "gLN":
        return GlobalLayerNorm(channels)
    if kind == "BatchNorm1d":
        return nn.BatchNorm1d(channels)
    raise ValueError(f"unknown norm '{kind}' (expected 'gLN' or 'BatchNorm1d')")


class ConvNorm(nn.Module):
    """Conv1d (with bias) followed by a norm.

    Shape:
        x: [B, C_in, T] -> [B, C_out, T'] with T' = floor((T + 2*padding - k) / stride) + 1
    """

    def __init__(self, in_chan: int, out_chan: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, padding: int = 0, norm: str = "gLN") -> None:
        super().__init__()
        self.conv = Conv1d(in_chan, out_chan, kernel_size, stride=stride, padding=padding,
                           groups=groups, bias=True)
        self.norm = make_norm(norm, out_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class ConvNormAct(ConvNorm):
    """Conv1d (with bias) -> norm -> PReLU (one shared slope).

    Shape:
        x: [B, C_in, T] -> [B, C_out, T']
    """

    def __init__(self, in_chan: int, out_chan: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, padding: int = 0, norm: str = "gLN") -> None:
        super().__init__(in_chan, out_chan, kernel_size, stride, groups, padding, norm)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def conv1x1_over_concat(conv: nn.Conv1d, parts: list[torch.Tensor], length: int
                        ) -> torch.Tensor:
    """`conv(cat([resize(p, length) for p in parts]))` for a 1x1 `conv`, computing each part's
    share of the conv at the part's own length and resizing (nearest) afterwards.

    Exact: a 1x1 conv acts on each frame separately and nearest-neighbour resizing only
    selects frames, so the two commute. Upsampled parts then cost their own (shorter) length
    instead of `length`. Parts already `length` long are convolved together, bias added once.

    Shape:
        parts: [B, C_k, T_k] with sum(C_k) = conv.in_channels -> [B, conv.out_channels, length]
    """
    weight = conv.weight
    out: torch.Tensor | None = None
    offset = 0
    pieces: list[tuple[int, int, torch.Tensor, bool]] = []  # (lo, hi, tensor, at_length)
    for part in parts:
        channels = part.shape[1]
        pieces.append((offset, offset + channels, part, part.shape[-1] == length))
        offset += channels
    # group neighbouring full-length parts into one conv
    groups: list[tuple[int, int, list[torch.Tensor], bool]] = []
    for lo, hi, part, at_length in pieces:
        if at_length and groups and groups[-1][3] and groups[-1][1] == lo:
            groups[-1] = (groups[-1][0], hi, [*groups[-1][2], part], True)
        else:
            groups.append((lo, hi, [part], at_length))
    bias_used = False
    for lo, hi, members, at_length in groups:
        x = members[0] if len(members) == 1 else torch.cat(members, dim=1)
        bias = conv.bias if (at_length and not bias_used) else None
        bias_used = bias_used or bias is not None
        y = F.conv1d(x, weight[:, lo:hi], bias)
        if not at_length:
            y = F.interpolate(y, size=length, mode="nearest")
        out = y if out is None else out + y
    assert out is not None
    if not bias_used and conv.bias is not None:
        out = out + conv.bias.unsqueeze(-1)
    return out


class FrcnnSubnetwork(nn.Module):
    """One multi-scale FRCNN block (CTCNet's audio and video subnetworks share this topology).

    `p = proj(x)`; bottom-up `o_0 = dw_0(p)`, `o_i = dw_i(o_{i-1})` (stride 2, i >= 1);
    lateral fusion per scale `z_i = concat_i([down_i(o_{i-1}), o_i, nearest(o_{i+1})])`
    (the ends have two inputs, the middle scales three); every `z_i` upsampled (nearest) to the
    finest length, concatenated, `last` (1x1 ConvNormAct then a plain 1x1 conv), plus `x`.

    Attribute names match the official layout: audio uses `last_layer` + `res_conv`, video uses
    `last` (a Sequential of both); `layout` picks which (`"audio"` or `"video"`).

    `conv_before_upsample=True` computes every 1x1 conv that follows an upsampling (the
    lateral fusions' coarser input, the final concatenation) at the coarse rate and upsamples
    its output instead (`conv1x1_over_concat`): the same function with ~40% fewer MACs in the
    audio block, equal up to float rounding. Off by default (the official computation).

    Shape:
        x: [B, in_chan, T] -> [B, in_chan, T]
    """

    def __init__(self, in_chan: int, hid_chan: int, depth: int, kernel_size: int,
                 norm: str, layout: str, conv_before_upsample: bool = False) -> None:
        super().__init__()
        self.conv_before_upsample = conv_before_upsample
        if layout not in ("audio", "video"):
            raise ValueError(f"layout must be 'audio' or 'video', not {layout!r}")
        if depth < 2:
            raise ValueError("FRCNN depth must be >= 2")
        self.depth = depth
        self.layout = layout
        pad = (kernel_size - 1) // 2
        # The official audio block calls its projection `proj_1x1`, the video block `proj`.
        self._proj_name = "proj_1x1" if layout == "audio" else "proj"
        self.add_module(self._proj_name, ConvNormAct(in_chan, hid_chan, 1, norm=norm))
        self.spp_dw = nn.ModuleList(
            [ConvNorm(hid_chan, hid_chan, kernel_size, stride=1 if i == 0 else 2,
                      groups=hid_chan, padding=pad, norm=norm) for i in range(depth)])
        # fuse_layers[i][0] down-samples scale i-1 onto scale i (official key `fuse_layers.i.0`).
        self.fuse_layers = nn.ModuleDict({
            str(i): nn.ModuleList([ConvNorm(hid_chan, hid_chan, kernel_size, stride=2,
                                            groups=hid_chan, padding=pad, norm=norm)])
            for i in range(1, depth)})
        self.concat_layer = nn.ModuleList(
            [ConvNormAct(hid_chan * (2 if i in (0, depth - 1) else 3), hid_chan, 1, norm=norm)
             for i in range(depth)])
        if layout == "audio":
            self.last_layer = nn.Sequential(ConvNormAct(hid_chan * depth, hid_chan, 1, norm=norm))
            self.res_conv = nn.Conv1d(hid_chan, in_chan, 1)
        else:
            self.last = nn.Sequential(ConvNormAct(hid_chan * depth, hid_chan, 1, norm=norm),
                                      nn.Conv1d(hid_chan, in_chan, 1))

    def _tail(self, y: torch.Tensor) -> torch.Tensor:
        if self.layout == "audio":
            return self.res_conv(self.last_layer(y))
        return self.last(y)

    def _tail_from_parts(self, parts: list[torch.Tensor], length: int) -> torch.Tensor:
        head = self.last_layer[0] if self.layout == "audio" else self.last[0]
        y = head.act(head.norm(conv1x1_over_concat(head.conv, parts, length)))
        return self.res_conv(y) if self.layout == "audio" else self.last[1](y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self._modules[self._proj_name](x)
        scales = [self.spp_dw[0](p)]
        for k in range(1, self.depth):
            scales.append(self.spp_dw[k](scales[-1]))

        fused = []
        for i in range(self.depth):
            length = scales[i].shape[-1]
            parts = []
            if i > 0:
                parts.append(self.fuse_layers[str(i)][0](scales[i - 1]))
            parts.append(scales[i])
            layer = self.concat_layer[i]
            if self.conv_before_upsample:
                if i + 1 < self.depth:
                    parts.append(scales[i + 1])
                fused.append(layer.act(layer.norm(conv1x1_over_concat(layer.conv, parts,
                                                                      length))))
                continue
            if i + 1 < self.depth:
                parts.append(F.interpolate(scales[i + 1], size=length, mode="nearest"))
            fused.append(layer(torch.cat(parts, dim=1)))

        length = scales[0].shape[-1]
        if self.conv_before_upsample:
            return self._tail_from_parts(fused, length) + x
        for i in range(1, self.depth):
            fused[i] = F.interpolate(fused[i], size=length, mode="nearest")
        return self._tail(torch.cat(fused, dim=1)) + x


class AudioSubnetwork(FrcnnSubnetwork):
    """CTCNet's audio subnetwork (one instance, shared by all 16 uses).

    512 -> 512 channels, depth 5, depthwise kernel 5, gLN. The projection is registered as
    `proj_1x1` (official key layout).

    Shape:
        x: [B, bn_chan, T] -> [B, bn_chan, T]
    """

    def __init__(self, in_chan: int = 512, hid_chan: int = 512, depth: int = 5,
                 conv_before_upsample: bool = False) -> None:
        super().__init__(in_chan, hid_chan, depth, kernel_size=5, norm="gLN", layout="audio",
                         conv_before_upsample=conv_before_upsample)


class VisualSubnetwork(FrcnnSubnetwork):
    """One CTCNet video subnetwork: 64 channels, depth 4, depthwise kernel 3, BatchNorm1d.

    Shape:
        v: [B, chan, F] -> [B, chan, F]
    """

    def __init__(self, chan: int = 64, depth: int = 4, kernel_size: int = 3,
                 conv_before_upsample: bool = False) -> None:
        super().__init__(chan, chan, depth, kernel_size=kernel_size, norm="BatchNorm1d",
                         layout="video", conv_before_upsample=conv_before_upsample)


class VideoSubnetworks(nn.Module):
    """The unshared video subnetworks (`video.{i}`) and inter-cycle connections.

    Before video cycle i >= 1 the input is `concat_block[i](v_res + v)` with
    `concat_block[i]` = depthwise 1x1 Conv1d (with bias) + PReLU (one slope). Slot 0 has none
    (official key layout `concat_block.1`, `concat_block.2`).

    Shape:
        v: [B, chan, F] -> [B, chan, F] (per cycle, see `cycle`)
    """

    def __init__(self, chan: int = 64, depth: int = 4, kernel_size: int = 3,
                 iters: int = 3, conv_before_upsample: bool = False) -> None:
        super().__init__()
        self.iters = iters
        self.video = nn.ModuleList(
            [VisualSubnetwork(chan, depth, kernel_size, conv_before_upsample)
             for _ in range(iters)])
        self.concat_block = nn.ModuleDict({
            str(i): nn.Sequential(Conv1d(chan, chan, 1, groups=chan), nn.PReLU())
            for i in range(1, iters)})

    def cycle(self, i: int, v: torch.Tensor, v_res: torch.Tensor) -> torch.Tensor:
        """Video cycle i: `video[0](v)` for i = 0, else `video[i](concat_block[i](v_res + v))`."""
        if i == 0:
            return self.video[0](v)
        return self.video[i](self.concat_block[str(i)](v_res + v))


class ThalamicFusion(nn.Module):
    """CTCNet's audio-visual fusion ("ConcatFC2"), no residual.

    `a' = gLN(Conv1d(Ca+Cv -> Ca)(cat[a, nearest(v -> T)]))`,
    `v' = gLN(Conv1d(Ca+Cv -> Cv)(cat[nearest(a -> F), v]))`.

    Shape:
        a: [B, Ca, T], v: [B, Cv, F] -> (a' [B, Ca, T], v' [B, Cv, F] or None)
    """

    def __init__(self, audio_chan: int = 512, video_chan: int = 64,
                 conv_before_upsample: bool = False) -> None:
        super().__init__()
        self.conv_before_upsample = conv_before_upsample
        self.W_wav = ConvNorm(audio_chan + video_chan, audio_chan, 1)
        self.W_video = ConvNorm(audio_chan + video_chan, video_chan, 1)

    def forward(self, a: torch.Tensor, v: torch.Tensor,
                need_video: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conv_before_upsample:
            a_new = self.W_wav.norm(conv1x1_over_concat(self.W_wav.conv, [a, v], a.shape[-1]))
        else:
            v_up = F.interpolate(v, size=a.shape[-1], mode="nearest")
            a_new = self.W_wav(torch.cat([a, v_up], dim=1))
        if not need_video:
            return a_new, None
        a_down = F.interpolate(a, size=v.shape[-1], mode="nearest")
        return a_new, self.W_video(torch.cat([a_down, v], dim=1))


class FreeFilterbank(nn.Module):
    """A learned filterbank: `n_filters` filters of `kernel_size` taps (Xavier-normal init).

    The filters live in `_filters` [n_filters, 1, kernel_size] (official key name).
    """

    def __init__(self, n_filters: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self._filters = nn.Parameter(torch.empty(n_filters, 1, kernel_size))
        nn.init.xavier_normal_(self._filters)


class FilterbankEncoder(nn.Module):
    """Analysis: Conv1d(1 -> n_filters, kernel, stride, padding = kernel // 2), no bias.

    Shape:
        wav: [B, 1, L] -> [B, n_filters, floor((L + 2*(k//2) - k) / stride) + 1]
    """

    def __init__(self, filterbank: FreeFilterbank) -> None:
        super().__init__()
        self.filterbank = filterbank

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        fb = self.filterbank
        return F.conv1d(wav, fb._filters, stride=fb.stride, padding=fb.kernel_size // 2)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Append zeros on the last axis up to a multiple of `multiple` (dtype preserved)."""
    rest = x.shape[-1] % multiple
    return F.pad(x, (0, multiple - rest)) if rest else x


class PaddedEncoder(nn.Module):
    """The encoder with the official two-stage end padding.

    1. pad to a multiple of `lcm(n_filters // 2 * 2**depth, ...)`:
       `(n_filters // 2 * 2**depth) // gcd(kernel // 2, 2**depth)` (4096 for CTCNet);
    2. pad to a multiple of `(kernel // 2 * 2**depth) // gcd(kernel // 2, 2**depth)` (160).

    Both reproduce the official helpers exactly (including the surprising use of `n_filters`
    in the first), because the zeros take part in every gLN's statistics and so change the
    output. The filterbank is registered twice (`encoder.filterbank` and `filterbank`), as in
    the official module: both state-dict keys hold the same tensor.

    Shape:
        wav: [B, 1, L] -> [B, n_filters, T], T = L_padded / stride
    """

    def __init__(self, filterbank: FreeFilterbank, depth: int) -> None:
        super().__init__()
        self.encoder = FilterbankEncoder(filterbank)
        self.filterbank = filterbank
        half = filterbank.kernel_size // 2
        scale = 2 ** depth
        g = math.gcd(half, scale)
        self.lcm_outer = abs(filterbank.n_filters // 2 * scale) // g
        self.lcm_inner = abs(half * scale) // g

    def padded_length(self, length: int) -> int:
        """Length after both paddings (32000 -> 32800, 16000 -> 16480 for CTCNet)."""
        for m in (self.lcm_outer, self.lcm_inner):
            length += (m - length % m) % m
        return length

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        wav = pad_to_multiple(pad_to_multiple(wav, self.lcm_outer), self.lcm_inner)
        return self.encoder(wav)


class FilterbankDecoder(nn.Module):
    """Synthesis: ConvTranspose1d(n_filters -> 1, kernel, stride, padding = kernel // 2,
    output_padding = kernel // 2 - 1), no bias: maps T frames back to T * stride samples.

    Shape:
        spec: [..., n_filters, T] -> [..., T * stride]
    """

    def __init__(self, filterbank: FreeFilterbank) -> None:
        super().__init__()
        self.filterbank = filterbank

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        fb = self.filterbank
        lead = spec.shape[:-2]
        out = F.conv_transpose1d(spec.reshape(-1, *spec.shape[-2:]), fb._filters,
                                 stride=fb.stride, padding=fb.kernel_size // 2,
                                 output_padding=fb.kernel_size // 2 - 1)
        return out.reshape(*lead, out.shape[-1])
