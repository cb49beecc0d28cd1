"""Building blocks of RTFS-Net, named so that the official state-dict keys come out unchanged.

Every conv/norm/activation triple is a `ConvNormAct` whose `full_layer` keeps the official
Sequential numbering `{0 pre-norm, 1 pre-activation, 2 conv, 3 norm, 4 activation}` (absent
stages are `nn.Identity`, which own no tensors). The SRU is re-implemented in plain PyTorch
(any dtype, no compiled extension) with the `sru` 2.6 parameter layout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvNormAct", "GlobalLayerNorm", "LayerNorm4D", "InjectionMultiSum", "SRU", "DualPathRNN",
    "MultiHeadSelfAttention2D", "GlobalAttention", "TDABlock", "AttentionFusionCell",
]


class GlobalLayerNorm(nn.Module):
    """gLN: GroupNorm with one group (statistics over channels and all positions), eps 1e-5.

    Shape:
        - x: `[B, C, *]` -> same shape
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class LayerNorm4D(nn.Module):
    """Layer norm over channels (and frequency when `freqs > 1`) of a `[B, C, T, F]` map.

    Biased variance, eps 1e-5; `gamma`/`beta` have shape `[1, C, 1, freqs]`.

    Shape:
        - x: `[B, C, T, F]` -> same shape
    """

    def __init__(self, channels: int, freqs: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, freqs))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, freqs))
        self.dims = (1, 3) if freqs > 1 else (1,)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=self.dims, keepdim=True)
        var = x.var(dim=self.dims, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta


def _norm(kind: str | None, channels: int) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == "gLN":
        return GlobalLayerNorm(channels)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, kind)(channels)
    raise ValueError(f"unsupported norm type {kind!r}")


def _act(kind: str | None) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind in ("ReLU", "PReLU", "Sigmoid", "Tanh"):
        return getattr(nn, kind)()
    raise ValueError(f"unsupported activation {kind!r}")


class ConvNormAct(nn.Module):
    """[pre-norm -> pre-act ->] conv -> norm -> act, as `full_layer.{0..4}`.

    Padding is 'same' at stride 1 (PyTorch pads an even kernel one more at the end) and
    `(kernel - 1) // 2` otherwise. `kernel_size <= 0` makes the conv an identity.

    Shape:
        - x: `[B, in_chan, T]` (or `[B, in_chan, T, F]` with `is2d`) -> `[B, out_chan, T', (F')]`
    """

    def __init__(self, in_chan: int, out_chan: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True, pre_norm: str | None = None,
                 pre_act: str | None = None, norm: str | None = None, act: str | None = None,
                 is2d: bool = False) -> None:
        super().__init__()
        if kernel_size > 0:
            padding = (kernel_size - 1) // 2 if stride > 1 else "same"
            conv_cls = nn.Conv2d if is2d else nn.Conv1d
            conv: nn.Module = conv_cls(in_chan, out_chan, kernel_size, stride=stride,
                                       padding=padding, groups=groups, bias=bias)
        else:
            conv, out_chan = nn.Identity(), in_chan
        self.full_layer = nn.Sequential(_norm(pre_norm, in_chan), _act(pre_act), conv,
                                        _norm(norm, out_chan), _act(act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.full_layer(x)


def _area(shape: torch.Size) -> int:
    return math.prod(int(s) for s in shape)


class InjectionMultiSum(nn.Module):
    """Gated injection of a global map into a local one: `local(x_l) * gate(x_g) + glob(x_g)`.

    The three depthwise convs (no bias, + norm; the gate + sigmoid) run on `x_g` before the
    nearest-neighbour resize to `x_l`'s size when `x_l` is larger, after it otherwise (official).

    Shape:
        - local: `[B, C, *S_l]`, global: `[B, C, *S_g]` -> `[B, C, *S_l]`
    """

    def __init__(self, channels: int, kernel_size: int, norm: str, is2d: bool) -> None:
        super().__init__()
        kw = dict(groups=channels, norm=norm, bias=False, is2d=is2d)
        self.local_embedding = ConvNormAct(channels, channels, kernel_size, **kw)
        self.global_embedding = ConvNormAct(channels, channels, kernel_size, **kw)
        self.global_gate = ConvNormAct(channels, channels, kernel_size, act="Sigmoid", **kw)

    def forward(self, local: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        spatial = local.ndim // 2
        size = local.shape[-spatial:]
        out = self.local_embedding(local)
        if _area(size) > _area(glob.shape[-spatial:]):
            emb = F.interpolate(self.global_embedding(glob), size=size, mode="nearest")
            gate = F.interpolate(self.global_gate(glob), size=size, mode="nearest")
        else:
            resized = F.interpolate(glob, size=size, mode="nearest")
            emb, gate = self.global_embedding(resized), self.global_gate(resized)
        return out * gate + emb


# ------------------------------------------------------------------------------- SRU
class SRULayer(nn.Module):
    """One SRU layer (sru 2.6 layout, no layer norm, no projection, identity activation).

    `weight` [in, dirs * hidden * k] with k = 4 when in != dirs * hidden (the 4th matrix is the
    skip term) else 3 (skip = x * `scale_x`); `weight_c`, `bias` [2 (forget, reset) * dirs *
    hidden]. Per direction (the second runs backwards), c_0 = 0:
    f = sigmoid(U1 + b_f + c w_f), r = sigmoid(U2 + b_r + c w_r), c' = U0 + (c - U0) f,
    h = x' + (c' - x') r.

    Shape:
        - x: `[L, N, in]` -> `[L, N, dirs * hidden]`
    """

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = True) -> None:
        super().__init__()
        self.hidden = hidden_size
        self.dirs = 2 if bidirectional else 1
        out = self.dirs * hidden_size
        self.k = 4 if input_size != out else 3
        self.weight = nn.Parameter(torch.empty(input_size, out * self.k))
        self.weight_c = nn.Parameter(torch.empty(2 * out))
        self.bias = nn.Parameter(torch.zeros(2 * out))
        self.register_buffer("scale_x", torch.tensor([math.sqrt(3.0)]))
        bound = math.sqrt(3.0 / input_size)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.weight_c, -math.sqrt(3.0 / hidden_size),
                         math.sqrt(3.0 / hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length, batch, _ = x.shape
        d, dirs = self.hidden, self.dirs
        u = (x.reshape(length * batch, -1) @ self.weight).view(length, batch, dirs, d, self.k)
        w_f, w_r = self.weight_c.view(2, dirs, d)
        b_f, b_r = self.bias.view(2, dirs, d)
        if self.k == 4:
            skip = u[..., 3]
        else:
            skip = x.view(length, batch, dirs, d) * self.scale_x
        u0, u1, u2 = u[..., 0], u[..., 1] + b_f, u[..., 2] + b_r
        if dirs == 2:  # run the backward direction on time-reversed sequences, in lockstep
            def rev(t: torch.Tensor) -> torch.Tensor:
                return torch.stack([t[:, :, 0], t[:, :, 1].flip(0)], dim=2)
            u0, u1, u2, skip = rev(u0), rev(u1), rev(u2), rev(skip)
        c = x.new_zeros(batch, dirs, d)
        steps = []
        for t in range(length):
            forget = torch.sigmoid(u1[t] + c * w_f)
            reset = torch.sigmoid(u2[t] + c * w_r)
            c = u0[t] + (c - u0[t]) * forget
            steps.append(skip[t] + (c - skip[t]) * reset)
        h = torch.stack(steps)                                     # [L, N, dirs, d]
        if dirs == 2:
            h = rev(h)
        return h.reshape(length, batch, dirs * d)


class SRU(nn.Module):
    """A stack of `SRULayer`s (`rnn_lst.{i}`).

    Shape:
        - x: `[L, N, input_size]` -> `[L, N, dirs * hidden]`
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int,
                 bidirectional: bool = True) -> None:
        super().__init__()
        out = hidden_size * (2 if bidirectional else 1)
        self.rnn_lst = nn.ModuleList(
            [SRULayer(input_size if i == 0 else out, hidden_size, bidirectional)
             for i in range(num_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.rnn_lst:
            x = layer(x)
        return x


class DualPathRNN(nn.Module):
    """Windowed SRU along one axis of a `[B, C, T, F]` map, overlap-added back, plus residual.

    `dim=3` runs along time, `dim=4` along frequency. LayerNorm4D over channels, windows of
    `kernel_size` (stride `stride`, feature index c * kernel + j), SRU, ConvTranspose1d.

    Shape:
        - x: `[B, C, T, F]` -> same shape (the scanned axis must be >= kernel_size)
    """

    def __init__(self, in_chan: int, hid_chan: int, dim: int, kernel_size: int = 8,
                 stride: int = 1, num_layers: int = 4, bidirectional: bool = True) -> None:
        super().__init__()
        self.dim, self.kernel_size, self.stride = dim, kernel_size, stride
        self.norm = LayerNorm4D(in_chan, 1)
        self.rnn = SRU(in_chan * kernel_size, hid_chan, num_layers, bidirectional)
        rnn_out = hid_chan * (2 if bidirectional else 1)
        self.linear = nn.ConvTranspose1d(rnn_out, in_chan, kernel_size, stride=stride)

    def _padded(self, n: int) -> int:
        k, s = self.kernel_size, self.stride
        return math.ceil((n - k) / s) * s + k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dim == 4:
            x = x.transpose(-2, -1)
        batch, chan, old_t, old_f = x.shape
        new_t, new_f = self._padded(old_t), self._padded(old_f)
        x = F.pad(x, (0, new_f - old_f, 0, new_t - old_t))
        residual = x
        y = self.norm(x).permute(0, 3, 1, 2).reshape(batch * new_f, chan, new_t)
        y = y.unfold(2, self.kernel_size, self.stride)                    # [B F, C, L, k]
        y = y.permute(2, 0, 1, 3).reshape(y.shape[2], batch * new_f, -1)  # [L, B F, C k]
        y = self.rnn(y)                                                   # [L, B F, H]
        y = self.linear(y.permute(1, 2, 0))                               # [B F, C, T]
        y = y.view(batch, new_f, chan, new_t).permute(0, 2, 3, 1)
        out = (y + residual)[..., :old_t, :old_f]
        if self.dim == 4:
            out = out.transpose(-2, -1)
        return out.contiguous()


# ------------------------------------------------------------------------------- attention
class ConvActNorm(nn.Module):
    """1x1 Conv2d -> PReLU -> LayerNorm4D over (channels, freqs) (`conv`, `act`, `norm`).

    Shape:
        - x: `[B, in_chan, T, freqs]` -> `[B, out_chan, T, freqs]`
    """

    def __init__(self, in_chan: int, out_chan: int, freqs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, 1)
        self.act = nn.PReLU()
        self.norm = LayerNorm4D(out_chan, freqs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.conv(x)))


class MultiHeadSelfAttention2D(nn.Module):
    """Attention over time with (channel, frequency) flattened per head, plus residual.

    Per head: queries/keys `hid_chan` channels, values `in_chan / n_head`; scores scaled by
    `1 / sqrt(hid_chan * freqs)`; heads concatenated head-major, then `attn_concat_proj`.

    Shape:
        - x: `[B, C, T, freqs]` -> same shape
    """

    def __init__(self, in_chan: int, n_freqs: int, n_head: int = 4, hid_chan: int = 4) -> None:
        super().__init__()
        self.n_head = n_head
        self.Queries = nn.ModuleList([ConvActNorm(in_chan, hid_chan, n_freqs)
                                      for _ in range(n_head)])
        self.Keys = nn.ModuleList([ConvActNorm(in_chan, hid_chan, n_freqs)
                                   for _ in range(n_head)])
        self.Values = nn.ModuleList([ConvActNorm(in_chan, in_chan // n_head, n_freqs)
                                     for _ in range(n_head)])
        self.attn_concat_proj = ConvActNorm(in_chan, in_chan, n_freqs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, chan, time, freq = x.shape
        q = torch.cat([m(x) for m in self.Queries], 0).transpose(1, 2).flatten(2)
        k = torch.cat([m(x) for m in self.Keys], 0).transpose(1, 2).flatten(2)
        v = torch.cat([m(x) for m in self.Values], 0).transpose(1, 2)   # [hB, T, C/h, F]
        v_shape = v.shape
        scores = torch.matmul(q, k.transpose(1, 2)) / (q.shape[-1] ** 0.5)
        y = torch.matmul(torch.softmax(scores, dim=2), v.flatten(2)).reshape(v_shape)
        y = y.transpose(1, 2).reshape(self.n_head, batch, chan // self.n_head, time, freq)
        y = y.transpose(0, 1).reshape(batch, chan, time, freq)
        return self.attn_concat_proj(y) + x


class PositionalEncoding(nn.Module):
    """Sinusoidal positions added to `[B, T, C]` (the `pe` buffer is part of the state dict)."""

    def __init__(self, channels: int, max_len: int = 10000) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        freq = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32)
                         * -(math.log(float(max_len)) / channels))
        pe = torch.zeros(max_len, channels)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, :x.shape[1]]


class DropPath(nn.Module):
    """Stochastic depth: in training, zero whole samples with probability `p` and rescale the
    rest by 1 / (1 - p) (timm's `DropPath`); identity in eval."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class MultiHeadSelfAttention(nn.Module):
    """LayerNorm -> + positions -> MHA (+ the position-encoded input) -> LayerNorm, + input.

    Shape:
        - x: `[B, C, T]` -> same shape
    """

    def __init__(self, channels: int, n_head: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.pos_enc = PositionalEncoding(channels)
        self.attention = nn.MultiheadAttention(channels, n_head, dropout, batch_first=True)
        self.dropout_layer = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(channels)
        self.drop_path_layer = DropPath(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pos_enc(self.norm1(x.transpose(1, 2)))
        y = self.dropout_layer(self.attention(y, y, y, need_weights=False)[0]) + y
        return self.drop_path_layer(self.norm2(y).transpose(1, 2)) + x


class FeedForwardNetwork(nn.Module):
    """1x1 conv (no bias) + gLN -> depthwise conv + ReLU -> 1x1 conv (no bias) + gLN, + input
    (DropPath after the refiner and after the decoder, as the official code).

    Shape:
        - x: `[B, C, T]` -> same shape
    """

    def __init__(self, channels: int, hidden: int, kernel_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = ConvNormAct(channels, hidden, 1, norm="gLN", bias=False)
        self.refiner = ConvNormAct(hidden, hidden, kernel_size, groups=hidden, act="ReLU")
        self.decoder = ConvNormAct(hidden, channels, 1, norm="gLN", bias=False)
        self.dropout_layer = DropPath(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout_layer(self.refiner(self.encoder(x)))
        return self.dropout_layer(self.decoder(y)) + x


class GlobalAttention(nn.Module):
    """The video block's global layer: `MHSA` then `FFN` (hidden width 2 C).

    Shape:
        - x: `[B, C, T]` -> same shape
    """

    def __init__(self, channels: int, kernel_size: int = 3, n_head: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.MHSA = MultiHeadSelfAttention(channels, n_head, dropout)
        self.FFN = FeedForwardNetwork(channels, 2 * channels, kernel_size, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FFN(self.MHSA(x))


# ------------------------------------------------------------------------------- TDANet block
class TDABlock(nn.Module):
    """One TDANet block (RTFS block in 2-D): compress to `depth` scales, global layers on the
    coarsest, reconstruct with injection sums; residual = the gateway's output.

    Shape:
        - x: `[B, in_chan, T]` (or `[B, in_chan, T, F]` with `is2d`) -> same shape
    """

    def __init__(self, in_chan: int, hid_chan: int, kernel_size: int, stride: int, norm: str,
                 act: str, depth: int, global_layers: list[nn.Module], is2d: bool,
                 projection_norm: bool = True) -> None:
        super().__init__()
        self.is2d = is2d
        self.gateway = ConvNormAct(in_chan, in_chan, 1, groups=in_chan, act=act, is2d=is2d)
        self.projection = ConvNormAct(in_chan, hid_chan, 1, is2d=is2d,
                                      norm=norm if projection_norm else None,
                                      act=act if projection_norm else None)
        self.downsample_layers = nn.ModuleList([
            ConvNormAct(hid_chan, hid_chan, kernel_size, stride=1 if i == 0 else stride,
                        groups=hid_chan, norm=norm, is2d=is2d) for i in range(depth)])
        self.globalatt = nn.Sequential(*global_layers)
        self.fusion_layers = nn.ModuleList([InjectionMultiSum(hid_chan, kernel_size, norm, is2d)
                                            for _ in range(depth)])
        self.concat_layers = nn.ModuleList([InjectionMultiSum(hid_chan, kernel_size, norm, is2d)
                                            for _ in range(depth - 1)])
        self.residual_conv = ConvNormAct(hid_chan, in_chan, 1, is2d=is2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.gateway(x)
        scales = [self.downsample_layers[0](self.projection(residual))]
        for layer in self.downsample_layers[1:]:
            scales.append(layer(scales[-1]))
        coarse = scales[-1].shape[2:]
        pool = F.adaptive_avg_pool2d if self.is2d else F.adaptive_avg_pool1d
        glob = self.globalatt(sum(pool(s, coarse) for s in scales))
        fused = [layer(s, glob) for layer, s in zip(self.fusion_layers, scales, strict=True)]
        out = self.concat_layers[-1](fused[-2], fused[-1]) + scales[-2]
        for i in range(len(scales) - 3, -1, -1):
            out = self.concat_layers[i](fused[i], out) + scales[i]
        return self.residual_conv(out) + residual


class AttentionFusionCell(nn.Module):
    """Audio-visual fusion (the official `ATTNFusionCell`, audio side).

    b = nearest(resize(v)) -> k1 = key_embed(a) * b; att = softmax over video time of the mean
    over `kernel_size` of attention_embed(v), nearest to T; out = k1 + att * value_embed(a).

    Shape:
        - a: `[B, Ca, T, F]`, v: `[B, Cv, Tv]` -> `[B, Ca, T, F]`
    """

    def __init__(self, audio_chan: int, video_chan: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.audio_chan, self.kernel_size = audio_chan, kernel_size
        self.key_embed = ConvNormAct(audio_chan, audio_chan, 1, groups=audio_chan,
                                     norm="BatchNorm2d", act="ReLU", bias=False, is2d=True)
        self.value_embed = ConvNormAct(audio_chan, audio_chan, 1, groups=audio_chan,
                                       norm="BatchNorm2d", bias=False, is2d=True)
        self.attention_embed = ConvNormAct(video_chan, kernel_size * audio_chan, 1,
                                           groups=audio_chan, norm="gLN")
        self.resize = ConvNormAct(video_chan, audio_chan, 1, groups=audio_chan, norm="gLN")

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        batch, _, time, _ = a.shape
        b = F.interpolate(self.resize(v), size=time, mode="nearest").unsqueeze(-1)
        att = self.attention_embed(v).reshape(batch, self.audio_chan, self.kernel_size, -1)
        att = torch.softmax(att.mean(2), dim=-1)
        att = F.interpolate(att, size=time, mode="nearest").unsqueeze(-1)
        return self.key_embed(a) * b + att * self.value_embed(a)
