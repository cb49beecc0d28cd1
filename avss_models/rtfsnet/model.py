"""RTFS-Net (Pegg et al., "RTFS-Net: Recurrent time-frequency modelling for efficient
audio-visual speech separation", ICLR 2024): audio-visual target-speaker separation.

Written from the parity fixtures' description (`../shared/data/reference/README.md`) and the
official code (spkgyk/RTFS-Net @ a4cd736, MIT), proven identical on the fixtures
(tests/test_rtfsnet.py). Module names reproduce the official `AVNet` state-dict layout key for
key, so official weights load without renaming. Decisions on the official code's quirks are
in this package's README.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avss_bench.models import (
    FRONTEND_NAME,
    FRONTEND_NOTE,
    FRONTEND_RELEASES,
    AVSeparator,
    AvssError,
    ModelCard,
    as_batch,
    fit_state_dict,
    split_official_keys,
)
from avss_models.rtfsnet.blocks import (
    AttentionFusionCell,
    ConvNormAct,
    DualPathRNN,
    GlobalAttention,
    MultiHeadSelfAttention2D,
    TDABlock,
)

__all__ = ["RTFSNet", "config_from_official", "split_checkpoint", "count_parameters"]

#: Roots of the separation network's keys in the official layout.
SEPARATOR_ROOTS = ("encoder.", "audio_bottleneck.", "refinement_module.", "mask_generator.",
                   "decoder.")
#: The two tensors the last official commit (a4cd736) added; older checkpoints lack them.
PROJECTION_NORM_KEYS = ("refinement_module.audio_net.blocks.projection.full_layer.3.norm.weight",
                        "refinement_module.audio_net.blocks.projection.full_layer.3.norm.bias",
                        "refinement_module.audio_net.blocks.projection.full_layer.4.weight")


class STFTEncoder(nn.Module):
    """STFT (hann, centre, reflect) -> [real, imag] as `[B, 2, T, F]` -> 3x3 conv (no bias).

    Shape:
        - wav: `[B, L]` -> `[B, out_chan, L // hop + 1, win // 2 + 1]`
    """

    def __init__(self, win: int, hop: int, out_chan: int, kernel_size: int) -> None:
        super().__init__()
        self.win, self.hop = win, hop
        self.conv = ConvNormAct(2, out_chan, kernel_size, bias=False, is2d=True)
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def spectrum(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, n_fft=self.win, hop_length=self.hop,
                          window=self.window.to(wav.dtype), return_complex=True)
        return torch.stack([spec.real, spec.imag], 1).transpose(2, 3).contiguous()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.conv(self.spectrum(wav))


class STFTDecoder(nn.Module):
    """ConvTranspose2d to [real, imag], then the inverse STFT cut to the input length.

    Shape:
        - x: `[B, in_chan, T, F]`, length L -> `[B, L]`
    """

    def __init__(self, win: int, hop: int, in_chan: int, kernel_size: int) -> None:
        super().__init__()
        self.win, self.hop = win, hop
        self.decoder = nn.ConvTranspose2d(in_chan, 2, kernel_size, padding=(kernel_size - 1) // 2,
                                          bias=False)
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def forward(self, x: torch.Tensor, length: int) -> torch.Tensor:
        ri = self.decoder(x)
        spec = torch.complex(ri[:, 0], ri[:, 1]).transpose(1, 2)        # [B, F, T]
        return torch.istft(spec, n_fft=self.win, hop_length=self.hop,
                           window=self.window.to(ri.dtype), length=length)


class _Net(nn.Module):
    """Holds one shared block as `blocks` (official `TDANet` with `shared: true`)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.blocks = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class _Fusion(nn.Module):
    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.fusion_module = nn.Module()
        self.fusion_module.audio_lstm = cell

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.fusion_module.audio_lstm(a, v)


class RefinementModule(nn.Module):
    """a = A(a0); v = V(v0); a = fusion(a, v); then R - 1 times a = A(a + a0).

    One shared audio block (`audio_net.blocks`), one video block run once, one fusion.

    Shape:
        - audio: `[B, C, T, F]`, video: `[B, Cv, Tv]` -> `[B, C, T, F]`
    """

    def __init__(self, audio_net: nn.Module, video_net: nn.Module, fusion: nn.Module,
                 repeats: int) -> None:
        super().__init__()
        self.repeats = repeats
        self.audio_net, self.video_net, self.crossmodal_fusion = audio_net, video_net, fusion

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        a = self.audio_net(audio)
        a = self.crossmodal_fusion(a, self.video_net(video))
        for _ in range(self.repeats - 1):
            a = self.audio_net(a + audio)
        return a


class MaskGenerator(nn.Module):
    """PReLU -> 1x1 conv -> ReLU, applied as a complex mask (channels: first half real,
    second half imaginary) to the encoder output.

    Shape:
        - x: `[B, C, T, F]`, enc: `[B, N, T, F]` -> `[B, N, T, F]`
    """

    def __init__(self, bn_chan: int, enc_chan: int) -> None:
        super().__init__()
        self.mask_generator = nn.Sequential(
            nn.PReLU(), ConvNormAct(bn_chan, enc_chan, 1, act="ReLU", is2d=True))

    def forward(self, x: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        mask_r, mask_i = self.mask_generator(x).chunk(2, dim=1)
        enc_r, enc_i = enc.chunk(2, dim=1)
        return torch.cat([enc_r * mask_r - enc_i * mask_i, enc_r * mask_i + enc_i * mask_r], 1)


def _coarse_bins(bins: int, kernel: int, stride: int, depth: int) -> int:
    pad = (kernel - 1) // 2
    for _ in range(depth - 1):
        bins = (bins + 2 * pad - kernel) // stride + 1
    return bins


class RTFSNet(AVSeparator):
    """RTFS-Net audio-visual target-speaker separator (0.74 M parameters + 11.19 M lip
    front-end; the same weights serve every `repeats`).

    Args:
        repeats: R, uses of the shared RTFS block (4, 6 or 12 in the paper; the first is
            followed by the audio-visual fusion).
        win, hop: STFT size and hop (256, 128 samples; the attention's LayerNorm shapes tie
            the model to `win`).
        enc_chan: encoder channels (256; half real, half imaginary for the mask).
        bn_chan: audio bottleneck channels (256).
        hid_chan, kernel_size, stride, depth: RTFS block width, depthwise kernel, down-sampling
            stride and number of scales (64, 4, 2, 2).
        rnn_hidden, rnn_layers, rnn_window: SRU units per direction, layers, unfold window
            (32, 4, 8).
        attn_heads, attn_hidden: time-frequency attention heads and query/key channels (4, 4).
        video_chan: lip-embedding width (512).
        video_hidden, video_kernel, video_depth, video_heads: video block (64, 3, 4, 8).
        fusion_kernel: groups averaged in the fusion's attention (4).
        projection_norm: gLN + PReLU after the RTFS block's input projection (the official
            code's last commit; False reproduces checkpoints made before it).
        sample_rate: 16000 (informational).
        freeze_frontend: lip front-end parameters get `requires_grad=False` (official).

    `model.lip_frontend` is the ResNet-18 lip front-end (`avss_bench.models`), with its
    BatchNorms held in eval mode even in `train()`, as the official `FRCNNVideoModel` does.

    Shape:
        forward:  mixture [B, T] (16 kHz), lips [B, 1, F, 88, 88] (25 fps) -> [B, T]
        separate: mixture [B, T], embedding [B, 512, F] -> [B, T]
        T and F are arbitrary (T >= 7 * hop so that the SRU windows fit at the coarse scale).
    """

    card = ModelCard(
        name="RTFS-Net-{repeats}",
        paper=("Pegg et al., \"RTFS-Net: Recurrent time-frequency modelling for efficient "
               "audio-visual speech separation\", ICLR 2024"),
        reported_as="RTFS-Net-{repeats}",
        counting=("Paper (RTFS-Net Table 1): 0.7 M params (measured 740,210: separation "
                  "network without the visual encoder) and 21.9 / 30.5 / 56.4 G MACs for R = 4 "
                  "/ 6 / 12 per 2 s of input = our 'separator only' MACs at --seconds 2 (the "
                  "same torch.utils.flop_counter count as the official code: 21.93 / 30.61 / "
                  "56.67 G; 10.78 / 15.02 / 27.75 G per 1 s). The Dolphin paper lists "
                  "RTFS-Net-12 as 0.85 M / 33.56 G w/o and 12.03 M / 41.51 G w/ the visual "
                  "encoder (per 1 s, hooks)."),
        macs_seconds=2.0, visual_encoder=FRONTEND_NAME, visual_encoder_note=FRONTEND_NOTE,
        needs_frontend_weights=True,
        # No separator checkpoints are published (README.md); the front-end is CTCNet's.
        official_files=(FRONTEND_RELEASES["frcnn_128_512.backbone.pth.tar"],))

    def __init__(self, repeats: int = 4, win: int = 256, hop: int = 128, enc_chan: int = 256,
                 bn_chan: int = 256, hid_chan: int = 64, kernel_size: int = 4, stride: int = 2,
                 depth: int = 2, rnn_hidden: int = 32, rnn_layers: int = 4, rnn_window: int = 8,
                 attn_heads: int = 4, attn_hidden: int = 4, video_chan: int = 512,
                 video_hidden: int = 64, video_kernel: int = 3, video_depth: int = 4,
                 video_heads: int = 8, fusion_kernel: int = 4, projection_norm: bool = True,
                 sample_rate: int = 16000, freeze_frontend: bool = True) -> None:
        super().__init__()
        if repeats < 1 or depth < 2 or video_depth < 2:
            raise ValueError("need repeats >= 1, depth >= 2, video_depth >= 2")
        if enc_chan % 2:
            raise ValueError("enc_chan must be even (real and imaginary halves)")
        self.config: dict[str, Any] = {
            "repeats": repeats, "win": win, "hop": hop, "enc_chan": enc_chan,
            "bn_chan": bn_chan, "hid_chan": hid_chan, "kernel_size": kernel_size,
            "stride": stride, "depth": depth, "rnn_hidden": rnn_hidden,
            "rnn_layers": rnn_layers, "rnn_window": rnn_window, "attn_heads": attn_heads,
            "attn_hidden": attn_hidden, "video_chan": video_chan, "video_hidden": video_hidden,
            "video_kernel": video_kernel, "video_depth": video_depth,
            "video_heads": video_heads, "fusion_kernel": fusion_kernel,
            "projection_norm": bool(projection_norm), "sample_rate": sample_rate,
            "freeze_frontend": bool(freeze_frontend),
        }
        self.sample_rate = sample_rate
        self.encoder = STFTEncoder(win, hop, enc_chan, 3)
        self.audio_bottleneck = ConvNormAct(enc_chan, bn_chan, 1, pre_norm="gLN",
                                            pre_act="ReLU", is2d=True)
        freqs = _coarse_bins(win // 2 + 1, kernel_size, stride, depth)
        audio_layers = [
            DualPathRNN(hid_chan, rnn_hidden, 4, rnn_window, 1, rnn_layers),
            DualPathRNN(hid_chan, rnn_hidden, 3, rnn_window, 1, rnn_layers),
            MultiHeadSelfAttention2D(hid_chan, freqs, attn_heads, attn_hidden),
        ]
        audio_block = TDABlock(bn_chan, hid_chan, kernel_size, stride, "gLN", "PReLU", depth,
                               audio_layers, is2d=True, projection_norm=projection_norm)
        video_block = TDABlock(video_chan, video_hidden, video_kernel, 2, "BatchNorm1d", "PReLU",
                               video_depth, [GlobalAttention(video_hidden, 3, video_heads)],
                               is2d=False)
        self.refinement_module = RefinementModule(
            _Net(audio_block), _Net(video_block),
            _Fusion(AttentionFusionCell(bn_chan, video_chan, fusion_kernel)), repeats)
        self.mask_generator = MaskGenerator(bn_chan, enc_chan)
        self.decoder = STFTDecoder(win, hop, enc_chan, 3)
        self.lip_frontend = _build_lip_frontend(freeze_frontend)

    # ---------------------------------------------------------------- forward passes
    # forward(mixture, lips) = separate(mixture, embed_lips(lips)): AVSeparator.
    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """The separation network alone, on a precomputed lip embedding `[B, 512, F]`."""
        wav = as_batch(mixture)
        if embedding.ndim != 3 or embedding.shape[0] != wav.shape[0]:
            raise ValueError(f"embedding must be [B={wav.shape[0]}, C, F], got "
                             f"{list(embedding.shape)}")
        frames = wav.shape[-1] // self.encoder.hop + 1
        if self._coarse_frames(frames) < self.config["rnn_window"]:
            raise ValueError(f"mixture too short for RTFS-Net: {wav.shape[-1]} samples give "
                             f"{self._coarse_frames(frames)} coarse frames, the SRU window "
                             f"needs {self.config['rnn_window']}")
        enc = self.encoder(wav)                                        # [B, N, T, F]
        refined = self.refinement_module(self.audio_bottleneck(enc), embedding.to(enc.dtype))
        return self.decoder(self.mask_generator(refined, enc), wav.shape[-1])

    def _coarse_frames(self, frames: int) -> int:
        c = self.config
        return _coarse_bins(frames, c["kernel_size"], c["stride"], c["depth"])

    # ---------------------------------------------------------------- weights
    def separation_state_dict(self) -> dict[str, torch.Tensor]:
        """The separation network's tensors in the official key layout (no front-end)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("lip_frontend.")}

    def load_official_state_dict(self, state: Mapping[str, torch.Tensor],
                                 source: str = "state dict") -> RTFSNet:
        """Load the separation network from a state dict in the official layout, strictly.

        Raises:
            AvssError: missing, unexpected or wrongly shaped keys (one line, naming `source`).
        """
        state = {k: v for k, v in state.items() if not k.startswith("lip_frontend.")}
        state = fit_state_dict(state, self.separation_state_dict(), "RTFSNet", source)
        self.load_state_dict(state, strict=False)
        return self

    @classmethod
    def load_checkpoint(cls, path: str | Path | Mapping[str, Any],
                        official_config: Mapping[str, Any] | str | Path | None = None,
                        **config: Any) -> RTFSNet:
        """Build an RTFS-Net from official weights, in eval mode.

        Accepts (files read with `weights_only=True`): a plain state dict in the official
        `AVNet` layout; the official `best_model.pth` (`{"model_name", "state_dict",
        "model_args", ...}`, written by `serialize()`; `model_args["refinement_module"]`
        gives `repeats` and the rest of the configuration); a Lightning checkpoint of the
        official system (`state_dict` with `audio_model.*` and `video_model.*`: the lip
        front-end is loaded too). `official_config` is the official YAML (path or dict; its
        `audionet` section), needed for a plain state dict whose R is not 4. A file without the
        projection norm of commit a4cd736 builds `projection_norm=False`. Keyword arguments
        override everything else.

        Raises:
            AvssError: unreadable file, unsupported configuration, missing/unexpected keys.
        """
        source = str(path) if not isinstance(path, Mapping) else "state dict"
        payload = path if isinstance(path, Mapping) else _torch_load(Path(path))
        separator, frontend, args = split_checkpoint(payload, source)
        merged: dict[str, Any] = {}
        if args is not None:
            merged.update(config_from_model_args(args, source))
        if official_config is not None:
            merged.update(config_from_official(_read_yaml(official_config), source))
        if not any(k in separator for k in PROJECTION_NORM_KEYS):
            merged["projection_norm"] = False
        merged.update(config)
        model = cls(**merged)
        model.load_official_state_dict(separator, source)
        if frontend:
            from avss_bench.models import load_frontend_weights

            load_frontend_weights(model.lip_frontend, frontend)
        model.frontend_loaded = bool(frontend)  # `load_separator` requires the LRW file if not
        return model.eval()


def count_parameters(model: RTFSNet) -> dict[str, int]:
    """Parameter counts: the separation network alone and with the lip front-end."""
    sep = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("lip_frontend."))
    total = sum(p.numel() for p in model.parameters())
    return {"separator": sep, "with_video_encoder": total}


def _build_lip_frontend(freeze_frontend: bool) -> nn.Module:
    from avss_bench.models import LipFrontend, freeze

    frontend = LipFrontend(frozen_bn=True)
    return freeze(frontend) if freeze_frontend else frontend






# ---------------------------------------------------------------- official formats
def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise AvssError("checkpoint not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise AvssError(f"cannot read as a weights-only torch file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})", path) from None


def _read_yaml(conf: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(conf, Mapping):
        data = conf
    else:
        import yaml

        try:
            data = yaml.safe_load(Path(conf).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise AvssError(f"cannot read the official config ({exc})", conf) from None
    if not isinstance(data, Mapping):
        raise AvssError("official config is not a mapping", str(conf))
    return data.get("audionet", data)


def split_checkpoint(payload: Any, source: str = "checkpoint"
                     ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                Mapping[str, Any] | None]:
    """(separator state dict in the official layout, lip front-end state dict (maybe empty),
    the release file's `model_args` or None)."""
    if not isinstance(payload, Mapping):
        raise AvssError(f"not a state dict (got {type(payload).__name__})", source)
    args = payload.get("model_args") if isinstance(payload.get("model_args"), Mapping) else None
    if isinstance(payload.get("state_dict"), Mapping):
        payload = payload["state_dict"]
    separator, frontend = split_official_keys(payload, SEPARATOR_ROOTS, "RTFSNet", source)
    if not separator:
        raise AvssError("no RTFS-Net weights found (expected encoder.*, refinement_module.*, "
                        "... or audio_model.*)", source)
    return separator, frontend, args


def config_from_model_args(args: Mapping[str, Any], source: str = "model_args"
                           ) -> dict[str, Any]:
    """Rebuild the official `audionet` arguments from a release file's `model_args`
    (the official `get_config()`: per-submodule attribute dicts) and map them."""
    ref = args.get("refinement_module") or {}
    enc = args.get("encoder") or {}
    audionet: dict[str, Any] = {}
    for name in ("audio_params", "video_params", "fusion_params"):
        if isinstance(ref.get(name), Mapping):
            audionet[name] = ref[name]
    if enc:
        audionet["enc_dec_params"] = {k: enc[k] for k in ("win", "hop_length", "out_chan")
                                      if k in enc}
    return config_from_official(audionet, source)


def config_from_official(audionet: Mapping[str, Any], source: str = "official config"
                         ) -> dict[str, Any]:
    """Map the official `audionet` arguments (YAML) onto ours; refuse what is not reproduced.

    Only the architecture of the released configurations is implemented (STFT encoder,
    TDANet audio block with SRU dual-path RNNs + time-frequency attention, TDANet video block
    with global attention, ATTNFusion, RI-split ReLU mask); sizes and R are free.
    """
    out: dict[str, Any] = {}

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise AvssError(f"unsupported RTFS-Net setting: {what}", source)

    if "n_src" in audionet:
        need(int(audionet["n_src"]) == 1, "n_src must be 1")
    if "pretrained_vout_chan" in audionet:
        out["video_chan"] = int(audionet["pretrained_vout_chan"])
    vbn = audionet.get("video_bn_params") or {}
    need(int(vbn.get("kernel_size", -1)) <= 0, "video_bn_params with a conv")
    abn = audionet.get("audio_bn_params") or {}
    if "out_chan" in abn:
        out["bn_chan"] = int(abn["out_chan"])
    ed = audionet.get("enc_dec_params") or {}
    need(ed.get("encoder_type", "STFTEncoder") == "STFTEncoder", "encoder_type")
    for ours, theirs in (("win", "win"), ("hop", "hop_length"), ("enc_chan", "out_chan")):
        if theirs in ed:
            out[ours] = int(ed[theirs])
    ap = audionet.get("audio_params") or {}
    need(ap.get("audio_net", "TDANet") == "TDANet" and ap.get("shared", True),
         "audio_net must be a shared TDANet")
    for ours, theirs in (("hid_chan", "hid_chan"), ("kernel_size", "kernel_size"),
                         ("stride", "stride"), ("depth", "upsampling_depth"),
                         ("repeats", "repeats")):
        if theirs in ap:
            out[ours] = int(ap[theirs])
    layers = list((ap.get("layers") or {}).values())
    if layers:
        kinds = [layer.get("layer_type") for layer in layers]
        need(kinds == ["DualPathRNN", "DualPathRNN", "MultiHeadSelfAttention2D"]
             and [layers[0].get("dim"), layers[1].get("dim")] == [4, 3]
             and all(lay.get("rnn_type") == "SRU" for lay in layers[:2]), "audio layers")
        out["rnn_hidden"] = int(layers[0].get("hid_chan", 32))
        out["rnn_layers"] = int(layers[0].get("num_layers", 4))
        out["rnn_window"] = int(layers[0].get("kernel_size", 8))
        out["attn_heads"] = int(layers[2].get("n_head", 4))
        out["attn_hidden"] = int(layers[2].get("hid_chan", 4))
    vp = audionet.get("video_params") or {}
    if vp:
        need(vp.get("video_net", "TDANet") == "TDANet" and int(vp.get("repeats", 1)) == 1,
             "video_net must be a TDANet run once")
        for ours, theirs in (("video_hidden", "hid_chan"), ("video_kernel", "kernel_size"),
                             ("video_depth", "upsampling_depth")):
            if theirs in vp:
                out[ours] = int(vp[theirs])
        vlayers = list((vp.get("layers") or {}).values())
        if vlayers:
            need([lay.get("layer_type") for lay in vlayers] == ["GlobalAttention"],
                 "video layers")
            out["video_heads"] = int(vlayers[0].get("n_head", 8))
    fp = audionet.get("fusion_params") or {}
    if fp:
        need(fp.get("fusion_type", "ATTNFusion") == "ATTNFusion", "fusion_type")
        if "kernel_size" in fp:
            out["fusion_kernel"] = int(fp["kernel_size"])
    mp = audionet.get("mask_generation_params") or {}
    if mp:
        need(bool(mp.get("RI_split", False)) and mp.get("mask_act", "ReLU") == "ReLU"
             and not mp.get("output_gate", False), "mask_generation_params")
    if "win" in out:
        need(math.log2(out["win"]).is_integer(), "win must be a power of two")
    return out

