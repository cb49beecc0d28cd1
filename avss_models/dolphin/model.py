"""Dolphin (Li et al., 2025, "Efficient audio-visual speech separation with discrete lip
semantics and multi-scale global-local attention"): audio-visual target-speaker separation
with its own video encoder (DP-LipCoder).

Written from the parity fixtures' description (`../shared/data/reference/README.md`) and the
official code (JusperLee/Dolphin @ 5a4e5e8), proven identical on the fixtures
(tests/test_dolphin.py). Module names reproduce the official state-dict layout key for key;
the constructor takes the official configuration (the Hugging Face `config.json` /
`configs/dolphin.yml` `audionet_config`) unchanged. Decisions on the official code's quirks
are in this package's README.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avss_bench.models import (
    WRAPPER_PREFIXES,
    AVSeparator,
    AvssError,
    ModelCard,
    OfficialFile,
    as_batch,
    fit_state_dict,
)
from avss_models.dolphin.blocks import AVFModule, ConvNormAct, Separator, UConvBlock
from avss_models.dolphin.video import DEFAULT_LAYERS, VideoEncoder

__all__ = ["Dolphin", "DEFAULT_CONFIG", "read_safetensors", "count_parameters",
           "lips_from_uint8"]

#: The released configuration (configs/dolphin.yml `audionet_config`, = the hub config).
DEFAULT_CONFIG: dict[str, Any] = {
    "num_stages": 4,
    "sample_rate": 16000,
    "vpre_channels": 3872,
    "vmid_channels": 512,
    "vin_channels": 64,
    "vout_channels": 64,
    "module_audio_enc": {"in_channels": 1, "out_channels": 256, "kernel_size": 16,
                         "stride": 4, "groups": 1, "bias": False},
    "module_feature_projector": {"num_channels": 256, "in_channels": 256, "out_channels": 128,
                                 "kernel_size": 1, "bias": False},
    "module_separator": {
        "num_stages": 4,
        "relative_positional_encoding": {"in_channels": 128, "num_heads": 8, "maxlen": 2000,
                                         "embed_v": False},
        "enc_stage": {
            "global_blocks": {"in_channels": 128, "num_mha_heads": 8, "dropout_rate": 0.05},
            "local_blocks": {"in_channels": 128, "kernel_size": 65, "dropout_rate": 0.05},
            "down_conv_layer": {"in_channels": 128, "samp_kernel_size": 5},
        },
        "simple_fusion": {"out_channels": 128},
        "dec_stage": {
            "global_blocks": {"in_channels": 128, "num_mha_heads": 8, "dropout_rate": 0.05},
            "local_blocks": {"in_channels": 128, "kernel_size": 65, "dropout_rate": 0.05},
            "spk_attention": {"in_channels": 128, "num_mha_heads": 8, "dropout_rate": 0.05},
        },
    },
    "module_output_layer": {"in_channels": 256, "out_channels": 128},
    "module_audio_dec": {"in_channels": 256, "out_channels": 1, "kernel_size": 16, "stride": 4,
                         "bias": False},
    "video_encoder_params": {
        "layers": list(DEFAULT_LAYERS), "image_size": 88, "in_channel": 1, "init_channel": 4,
        "max_dim": 32, "input_conv_kernel_size": [7, 7, 7],
        "output_conv_kernel_size": [3, 3, 3], "residual_conv_kernel_size": 3,
        "pad_mode": "constant", "attn_dim_head": 32, "attn_heads": 8, "attn_dropout": 0.0,
        "flash_attn": True, "linear_attn_dim_head": 8, "linear_attn_heads": 16,
        "num_quantizers": 1, "codebook_size": 256, "codebook_dim": 64,
        "commitment_cost": 1.0, "distill_cost": 1.0,
    },
}
#: Video-encoder arguments the official code accepts and never uses.
_VIDEO_IGNORED = {"output_conv_kernel_size", "pad_mode", "commitment_cost", "distill_cost",
                  "attn_dropout"}
#: Keys of a Hugging Face `config.json` that are metadata, not constructor arguments.
_HUB_METADATA = {"model_type", "task", "framework", "license", "tags", "architectures",
                 "auto_map", "transformers_version"}
#: Where the official inference script gets the released weights (`from_pretrained`).
HUB_REPO = "JusperLee/Dolphin"
#: The hub files, as the card lists them; no sha256 is published (None: nothing verified).
HUB_FILES = (
    OfficialFile("config.json", f"https://huggingface.co/{HUB_REPO}/resolve/main/config.json",
                 None, "released configuration"),
    OfficialFile("model.safetensors",
                 f"https://huggingface.co/{HUB_REPO}/resolve/main/model.safetensors", None,
                 "released weights, DP-LipCoder included (training starts its video encoder "
                 "from them)", frontend=True),
)


class AudioEncoder(nn.Module):
    """Conv1d (no padding) -> GELU. Shape: `[B, L]` -> `[B, N, (L - k) / s + 1]`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 groups: int = 1, bias: bool = False) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                groups=groups, bias=bias)
        self.gelu = nn.GELU()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.gelu(self.conv1d(wav.unsqueeze(1)))


class FeatureProjector(nn.Module):
    """GroupNorm(1, eps 1e-8) -> 1x1 conv. Shape: `[B, N, T]` -> `[B, C, T]`."""

    def __init__(self, num_channels: int, in_channels: int, out_channels: int,
                 kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, num_channels, eps=1e-8)
        self.conv1d = nn.Conv1d(in_channels, out_channels, kernel_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1d(self.norm(x))


class OutputLayer(nn.Module):
    """Crop to the encoder's length, Linear -> GLU -> Linear over channels (no mask).

    Shape:
        - x: `[B, C, T_p]`, frames T_a -> `[B, N, T_a]`
    """

    def __init__(self, in_channels: int, out_channels: int, masking: bool = False) -> None:
        super().__init__()
        if masking:
            raise ValueError("Dolphin's released model does not mask (masking=False)")
        self.end_conv1x1 = nn.Sequential(nn.Linear(out_channels, 4 * out_channels), nn.GLU(),
                                         nn.Linear(2 * out_channels, in_channels))

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        return self.end_conv1x1(x[..., :frames].transpose(1, 2)).transpose(1, 2)


class Dolphin(AVSeparator):
    """Dolphin audio-visual target-speaker separator (7.00 M parameters, of which 0.78 M are
    the DP-LipCoder video encoder; 16,384 codebook values are buffers).

    The constructor takes the official configuration unchanged (defaults = the released one,
    `DEFAULT_CONFIG`), plus:

    Args:
        fix_video_fusion_index: see `avss_models.dolphin.blocks.UConvBlock` (default False =
            official).

    `model.video_encoder` (also reachable as `model.lip_frontend`) is DP-LipCoder: it takes
    the avss-bench lips as they are (88x88 grey, (x/255 - 0.421)/0.165, 25 fps -- the official
    inference pipeline's format) and gives `[B, F, 3872]`. It is trained with the separator
    (not frozen).

    Shape:
        forward:  mixture [B, T] (16 kHz), lips [B, 1, F, 88, 88] (25 fps) -> [B, T]
        separate: mixture [B, T], video_features [B, F, 3872] -> [B, T]
        T >= 16. The official decoder returns T - (T mod 4) samples; the missing (< 4) tail
        samples are zeros here so that the output has length T.
    """

    card = ModelCard(
        name="Dolphin",
        paper=("Li et al., \"Efficient audio-visual speech separation with discrete lip "
               "semantics and multi-scale global-local attention\", 2025"),
        reported_as="Dolphin",
        counting=("Paper (Dolphin efficiency table, per 1 s, module-hook counter): w/o visual "
                  "encoder 6.22 M / 8.51 G = our 'separator only' Params; w/ visual encoder "
                  "7.00 M / 10.89 G = our 'with visual encoder' Params (ptflops hooks on the "
                  "official code: 10.885 G; thop 10.18 G). Hook counters miss Dolphin's "
                  "functional matrix products (Heat1D DCT transforms, whose cost grows with the "
                  "square of the length): torch.utils.flop_counter counts 52.83 G per 1 s with "
                  "the visual encoder (49.62 G without; 189.4 G per 2 s). Use --seconds 1 to "
                  "compare."),
        macs_seconds=1.0,
        visual_encoder="DP-LipCoder (video_encoder = lip_frontend, trained with the separator)",
        visual_encoder_note=("DP-LipCoder: 0.78 M params; the paper's 'w/ visual encoder' "
                             "column counts it, its 'w/o' column does not."),
        needs_frontend_weights=True, official_files=HUB_FILES)

    def __init__(self, num_stages: int = 4, sample_rate: int = 16000,
                 module_audio_enc: Mapping | None = None,
                 module_feature_projector: Mapping | None = None,
                 module_separator: Mapping | None = None,
                 module_output_layer: Mapping | None = None,
                 module_audio_dec: Mapping | None = None,
                 video_encoder_params: Mapping | None = None, vpre_channels: int = 3872,
                 vmid_channels: int = 512, vin_channels: int = 64, vout_channels: int = 64,
                 fix_video_fusion_index: bool = False) -> None:
        super().__init__()
        d = DEFAULT_CONFIG
        cfg = {
            "num_stages": num_stages, "sample_rate": sample_rate,
            "vpre_channels": vpre_channels, "vmid_channels": vmid_channels,
            "vin_channels": vin_channels, "vout_channels": vout_channels,
            "module_audio_enc": dict(module_audio_enc or d["module_audio_enc"]),
            "module_feature_projector": dict(module_feature_projector
                                             or d["module_feature_projector"]),
            "module_separator": copy.deepcopy(dict(module_separator or d["module_separator"])),
            "module_output_layer": dict(module_output_layer or d["module_output_layer"]),
            "module_audio_dec": dict(module_audio_dec or d["module_audio_dec"]),
            "video_encoder_params": copy.deepcopy(dict(video_encoder_params
                                                       or d["video_encoder_params"])),
            "fix_video_fusion_index": bool(fix_video_fusion_index),
        }
        self.config: dict[str, Any] = cfg
        self.sample_rate = sample_rate
        self.num_stages = num_stages
        dec = cfg["module_audio_dec"]
        # Registration order = the official state-dict key order.
        self.pre_v1 = ConvNormAct(vpre_channels, vin_channels, 3, norm_type="BN")
        self.audio_encoder = AudioEncoder(**cfg["module_audio_enc"])
        self.feature_projector = FeatureProjector(**cfg["module_feature_projector"])
        self.separator = Separator(**cfg["module_separator"])
        self.out_layer = OutputLayer(**cfg["module_output_layer"])
        self.audio_decoder = nn.ConvTranspose1d(dec["in_channels"], dec["out_channels"],
                                                dec["kernel_size"], stride=dec["stride"],
                                                bias=dec.get("bias", False))
        self.video_blocks = UConvBlock(vin_channels, vout_channels, 3, norm_type="BN",
                                       fix_fusion_index=fix_video_fusion_index)
        self.modalfuse = AVFModule(cfg["module_feature_projector"]["out_channels"],
                                   vout_channels)
        video = {k: v for k, v in cfg["video_encoder_params"].items() if k not in _VIDEO_IGNORED}
        self.video_encoder = VideoEncoder(**video)
        if self.video_encoder.out_features != vpre_channels:
            raise ValueError(f"vpre_channels={vpre_channels} but the video encoder gives "
                             f"{self.video_encoder.out_features} features per frame")
        self.kernel = cfg["module_audio_enc"]["kernel_size"]

    @property
    def lip_frontend(self) -> VideoEncoder:
        """The video encoder (DP-LipCoder), under the name other separators use."""
        return self.video_encoder

    # ---------------------------------------------------------------- forward passes
    # forward(mixture, lips) = separate(mixture, embed_lips(lips)): AVSeparator.
    def embed_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """DP-LipCoder: `[B, 1, F, 88, 88]` -> `[B, F, 3872]`."""
        if lips.ndim != 5 or lips.shape[1] != 1:
            raise ValueError(f"lips must be [B, 1, F, H, W], got {list(lips.shape)}")
        return super().embed_lips(lips)

    def separate(self, mixture: torch.Tensor, video_features: torch.Tensor) -> torch.Tensor:
        """Everything after the video encoder, on its output `[B, F, 3872]`."""
        wav = as_batch(mixture)
        if wav.shape[-1] < self.kernel:
            raise ValueError(f"mixture shorter than the encoder kernel ({self.kernel} samples)")
        if video_features.ndim != 3 or video_features.shape[0] != wav.shape[0]:
            raise ValueError(f"video_features must be [B={wav.shape[0]}, F, C], got "
                             f"{list(video_features.shape)}")
        v = self.video_blocks(self.pre_v1(video_features.to(wav.dtype).transpose(1, 2)))
        enc = self.audio_encoder(wav)                                   # [B, N, T_a]
        x = self.modalfuse(self.feature_projector(enc), v)              # [B, C, T_a]
        x = self.out_layer(self.separator(x), enc.shape[-1])            # [B, N, T_a]
        out = self.audio_decoder(x)[:, 0]                               # [B, L - L mod 4]
        return F.pad(out, (0, wav.shape[-1] - out.shape[-1]))

    # ---------------------------------------------------------------- weights
    def load_official_state_dict(self, state: Mapping[str, torch.Tensor],
                                 source: str = "state dict") -> Dolphin:
        """Load a state dict in the official layout, strictly (the official `from_pretrained`
        uses strict=False; here any difference is an error).

        Raises:
            AvssError: missing, unexpected or wrongly shaped keys, or an uninitialised
                codebook (`initted` = 0), in one line naming `source`.
        """
        state = fit_state_dict(state, self.state_dict(), "Dolphin", source)
        initted = [k for k in state if k.endswith("_codebook.initted")]
        if any(not bool(state[k].flatten()[0]) for k in initted):
            raise AvssError("the video codebook is not initialised (initted = 0): not trained "
                            "weights", source)
        self.load_state_dict(state, strict=True)
        return self

    def load_visual_encoder(self, path: str | Path) -> Dolphin:
        """Fill `video_encoder` (DP-LipCoder) from released Dolphin weights, strictly.

        Training starts from the released encoder (its codebook is trained; a fresh one is
        not): `path` is the hub folder or weights file; only its `video_encoder.*` tensors are
        used.

        Raises:
            AvssError: unreadable file, missing/unexpected encoder keys, untrained codebook.
        """
        weights = Path(path)
        if weights.is_dir():
            weights = next((weights / n for n in ("model.safetensors", "pytorch_model.bin",
                                                  "model.pt") if (weights / n).is_file()),
                           weights / "model.safetensors")
        source = str(weights)
        state = _state_dict_of(_read_weights(weights), source)
        prefix = "video_encoder."
        encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not encoder:
            raise AvssError("no video_encoder.* weights in this file", source)
        encoder = fit_state_dict(encoder, self.video_encoder.state_dict(),
                                 "Dolphin's video encoder", source)
        if any(not bool(v.flatten()[0]) for k, v in encoder.items()
               if k.endswith("_codebook.initted")):
            raise AvssError("the video codebook is not initialised (initted = 0): not trained "
                            "weights", source)
        self.video_encoder.load_state_dict(encoder, strict=True)
        return self

    @classmethod
    def load_checkpoint(cls, path: str | Path | Mapping[str, Any],
                        config: Mapping[str, Any] | str | Path | None = None,
                        **overrides: Any) -> Dolphin:
        """Build Dolphin from official weights, in eval mode.

        `path` may be: a folder holding the hub files (`config.json` + `model.safetensors`,
        or `pytorch_model.bin`); a `.safetensors` file (read without pickle); a torch file
        (`weights_only=True`) holding a state dict, `{"state_dict": ...}` (a Lightning
        checkpoint with `audio_model.` prefixes too) or `{"model_state_dict": ...}`; or a
        state dict. `config` is the hub `config.json` (path or dict), a YAML with
        `audionet.audionet_config`, or the constructor arguments; without it, a `config.json`
        next to the weights is used, else the released configuration.

        Raises:
            AvssError: unreadable file, missing/unexpected keys, uninitialised codebook.
        """
        weights_path: Path | None = None
        if isinstance(path, Mapping):
            payload: Any = path
            source = "state dict"
        else:
            weights_path = Path(path)
            if weights_path.is_dir():
                folder = weights_path
                for name in ("model.safetensors", "pytorch_model.bin", "model.pt"):
                    if (folder / name).is_file():
                        weights_path = folder / name
                        break
                else:
                    raise AvssError("no model.safetensors / pytorch_model.bin in the folder",
                                    folder)
            source = str(weights_path)
            payload = _read_weights(weights_path)
        if config is None and weights_path is not None:
            candidate = weights_path.parent / "config.json"
            config = candidate if candidate.is_file() else None
        args = _read_config(config) if config is not None else {}
        args.update(overrides)
        model = cls(**args)
        model.load_official_state_dict(_state_dict_of(payload, source), source)
        model.frontend_loaded = True  # the official layout always holds DP-LipCoder (strict)
        return model.eval()

    @classmethod
    def from_pretrained(cls, repo_id: str = HUB_REPO, cache_dir: str | Path | None = None,
                        **overrides: Any) -> Dolphin:
        """Download (once) the released hub files and load them. Needs internet and
        `huggingface_hub`; tests never call this."""
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise AvssError("downloading needs `pip install huggingface_hub`; or download "
                            f"{[f.name for f in HUB_FILES]} from huggingface.co/{repo_id} and "
                            "call Dolphin.load_checkpoint(folder)") from None
        files = {f.name: Path(hf_hub_download(repo_id, f.name, cache_dir=cache_dir))
                 for f in HUB_FILES}
        for file in files.values():
            cls.card.check_official_sha256(file)
        return cls.load_checkpoint(files["model.safetensors"], files["config.json"],
                                   **overrides)


def lips_from_uint8(roi: torch.Tensor, crop: int = 88) -> torch.Tensor:
    """Dolphin's (and avss-bench's) evaluation lip pipeline on grey uint8 ROIs:
    `[F, 96, 96]` uint8 -> `[1, 1, F, 88, 88]` float32: /255, centre crop, (x - 0.421) / 0.165
    (computed in float64, then cast, as the official NumPy pipeline does)."""
    x = roi.to(torch.float64) / 255.0
    top = (x.shape[-2] - crop) // 2
    left = (x.shape[-1] - crop) // 2
    x = x[..., top:top + crop, left:left + crop]
    return ((x - 0.421) / 0.165).to(torch.float32)[None, None]


def count_parameters(model: Dolphin) -> dict[str, int]:
    """Parameter counts: separator-only (everything but the video encoder) and whole model."""
    total = sum(p.numel() for p in model.parameters())
    video = sum(p.numel() for p in model.video_encoder.parameters())
    return {"separator": total - video, "video_encoder": video, "with_video_encoder": total}






# ---------------------------------------------------------------- official formats
_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                       "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
                       "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                       "BOOL": torch.bool}


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a `.safetensors` file (8-byte little-endian header length, JSON header, raw
    little-endian data) without the `safetensors` package and without pickle.

    Raises:
        AvssError: truncated or malformed file, unknown dtype.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AvssError(f"cannot read ({exc.strerror})", path) from None
    try:
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + size])
    except (struct.error, ValueError):
        raise AvssError("not a safetensors file (bad header)", path) from None
    data = memoryview(raw)[8 + size:]
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        start, end = info.get("data_offsets", (0, -1))
        if dtype is None or end > len(data) or start > end:
            raise AvssError(f"bad tensor entry {name!r} ({info.get('dtype')})", path)
        shape = info.get("shape", [])
        buf = bytes(data[start:end])
        tensor = torch.frombuffer(bytearray(buf), dtype=dtype) if buf else torch.empty(
            0, dtype=dtype)
        out[name] = tensor.reshape(shape).clone()
    return out


def _read_weights(path: Path) -> Any:
    if not path.is_file():
        raise AvssError("checkpoint not found", path)
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's fault
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise AvssError(f"cannot read as a weights-only torch file ({type(exc).__name__}: "
                        f"{first})", path) from None


def _state_dict_of(payload: Any, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(payload, Mapping):
        raise AvssError(f"not a state dict (got {type(payload).__name__})", source)
    for name in ("state_dict", "model_state_dict"):
        if isinstance(payload.get(name), Mapping):
            payload = payload[name]
            break
    out: dict[str, torch.Tensor] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            raise AvssError(f"entry {key!r} is not a tensor", source)
        name = key
        while name.startswith((*WRAPPER_PREFIXES, "audio_model.")):
            name = name.split(".", 1)[1]
        out[name] = value
    return out


def _read_config(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(config, Mapping):
        data: Any = dict(config)
    else:
        path = Path(config)
        try:
            text = path.read_text()
            if path.suffix in (".yml", ".yaml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise AvssError(f"cannot read the Dolphin config ({exc})", path) from None
    if not isinstance(data, Mapping):
        raise AvssError("the Dolphin config is not a mapping", str(config))
    if isinstance(data.get("audionet"), Mapping):
        data = data["audionet"].get("audionet_config", data["audionet"])
    known = set(DEFAULT_CONFIG) | {"fix_video_fusion_index"}
    unknown = [k for k in data if k not in known and k not in _HUB_METADATA]
    if unknown:
        raise AvssError(f"unknown Dolphin config key(s) {unknown}", str(config))
    return {k: v for k, v in data.items() if k in known}
