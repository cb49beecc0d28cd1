"""CTCNet (Li et al., "An audio-visual speech separation model inspired by
cortico-thalamo-cortical circuits"), the audio-visual baseline of the benchmark.

Written from ARCHITECTURE.md §2 and proven identical to the official implementation
(JusperLee/CTCNet @ c8112b7) on the parity fixtures (tests/test_ctcnet.py). The separation
network's module names reproduce the official state-dict layout key for key, so an official
state dict loads without renaming; `CTCNet.load_checkpoint` also reads the official release
formats. Decisions about the official code's quirks are in this package's README.
"""

from __future__ import annotations

import copy
import io
import zipfile
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
from avss_models.ctcnet.blocks import (
    AudioSubnetwork,
    Conv1d,
    FilterbankDecoder,
    FreeFilterbank,
    GlobalLayerNorm,
    PaddedEncoder,
    ThalamicFusion,
    VideoSubnetworks,
)

__all__ = ["CTCNet", "AudioVisualMasker", "config_from_official", "split_checkpoint"]

#: The two state-dict entries that hold the one encoder filterbank.
FILTERBANK_KEYS = ("encoder.encoder.filterbank._filters", "encoder.filterbank._filters")
#: Roots of the separation network's keys in the official layout.
SEPARATOR_ROOTS = ("encoder.", "masker.", "decoder.")


class AudioVisualMasker(nn.Module):
    """The mask estimator: bottlenecks, the audio/video subnetworks, fusions, mask head.

    Schedule (audio block shared by all `an_repeats + fn_repeats` uses; video blocks and
    fusions unshared):

        a = pre_a(E); v = pre_v(emb); a_res, v_res = a, v
        cycle 0:        a = A(a);                      v = V_0(v);                  a, v = F_0(a, v)
        cycles 1..R-1:  a = A(Psi_a(a_res + a));       v = V_i(Psi_v_i(v_res + v)); a, v = F_i(a, v)
        fn_repeats x:   a = A(Psi_a(a_res + a))
        mask = ReLU(Conv1d(PReLU(a)))

    The last fusion's video output is never used downstream, so it is not computed (its
    weights stay in the module for key compatibility).

    Shape:
        enc: [B, n_filters, T], video_embedding: [B, vout_chan, F]
        -> mask [B, n_src, n_filters, T]
    """

    def __init__(self, n_filters: int, n_src: int, bn_chan: int, hid_chan: int,
                 upsampling_depth: int, an_repeats: int, fn_repeats: int, vout_chan: int,
                 video_chan: int, video_depth: int, video_kernel_size: int,
                 conv_before_upsample: bool = False) -> None:
        super().__init__()
        self.n_src = n_src
        self.an_repeats = an_repeats
        self.fn_repeats = fn_repeats
        self.pre_a = nn.Sequential(GlobalLayerNorm(n_filters), nn.Conv1d(n_filters, bn_chan, 1))
        self.pre_v = nn.Conv1d(vout_chan, video_chan, 3, padding=1)
        self.post = nn.Sequential(nn.PReLU(), nn.Conv1d(bn_chan, n_src * n_filters, 1),
                                  nn.ReLU())
        self.video_block = VideoSubnetworks(video_chan, video_depth, video_kernel_size,
                                            iters=an_repeats,
                                            conv_before_upsample=conv_before_upsample)
        self.audio_block = AudioSubnetwork(bn_chan, hid_chan, upsampling_depth,
                                           conv_before_upsample=conv_before_upsample)
        self.audio_concat = nn.Sequential(Conv1d(bn_chan, bn_chan, 1, groups=bn_chan),
                                          nn.PReLU())
        self.crossmodal_fusion = nn.ModuleList(
            [ThalamicFusion(bn_chan, video_chan, conv_before_upsample)
             for _ in range(an_repeats)])

    def forward(self, enc: torch.Tensor, video_embedding: torch.Tensor) -> torch.Tensor:
        batch, _, frames = enc.shape
        a = self.pre_a(enc)
        v = self.pre_v(video_embedding)
        a_res, v_res = a, v
        for i in range(self.an_repeats):
            a = self.audio_block(a if i == 0 else self.audio_concat(a_res + a))
            v = self.video_block.cycle(i, v, v_res)
            a, v_next = self.crossmodal_fusion[i](a, v, need_video=i + 1 < self.an_repeats)
            v = v_next if v_next is not None else v
        for _ in range(self.fn_repeats):
            a = self.audio_block(self.audio_concat(a_res + a))
        return self.post(a).view(batch, self.n_src, -1, frames)


class CTCNet(AVSeparator):
    """CTCNet audio-visual target-speaker separator (7.15 M parameters + 11.19 M lip front-end).

    Args:
        n_src: sources estimated per call (1: the speaker whose lips are given).
        n_filters, kernel_size, stride: learned filterbank (512 filters of 21 taps, hop 10).
        bn_chan, hid_chan: audio bottleneck and hidden widths (512, 512).
        upsampling_depth: scales of the audio FRCNN block (5).
        an_repeats: audio-visual cycles (3), each with its own video block and fusion.
        fn_repeats: audio-only cycles after them (13).
        vout_chan: lip-embedding width (512).
        video_chan, video_depth, video_kernel_size: video FRCNN blocks (64, 4, 3).
        sample_rate: audio rate the model was built for (16000); informational.
        conv_before_upsample: compute each 1x1 conv that follows a nearest-neighbour
            upsampling at the coarse rate and upsample its output instead. The same function
            (the two operations commute) with 33% fewer MACs (111.7 G instead of 166.8 G per
            2 s) and a faster forward; outputs equal the official ones up to float rounding.
            Off by default so that the computation (and its MAC count) is the official one.

    Defaults are the released LRS2/LRS3/VoxCeleb2 configuration.

    `model.lip_frontend` is the ResNet-18 lip front-end, frozen (`requires_grad=False`) and
    with its BatchNorms held in eval mode even in `train()`, as CTCNet's own wrapper does.

    Shape:
        forward:  mixture [B, T] (16 kHz), lips [B, 1, F, 88, 88] (25 fps) -> [B, T]
        separate: mixture [B, T], video_embedding [B, 512, F] -> [B, T]
        (with n_src > 1 the outputs are [B, n_src, T]). T and F are arbitrary; the input is
        zero-padded at the end internally (to a multiple of 4096, then of 160 samples) exactly
        as the official code does, and the output cut back to T.
    """

    card = ModelCard(
        name="CTCNet",
        paper=("Li et al., \"An audio-visual speech separation model inspired by "
               "cortico-thalamo-cortical circuits\""),
        reported_as="CTCNet",
        counting=("Paper: CTCNet 7.0 M params, 167.2 G MACs. That 167.2 G is per 2 s of input "
                  "(measured 166.7-167.4 G per 2 s by every counter); so 'IIANet has 11% of "
                  "CTCNet's MACs' compares 1 s against 2 s: at equal length IIANet has ~20% of "
                  "CTCNet's conv MACs. Use --seconds 2 to compare with the paper."),
        macs_seconds=2.0, visual_encoder=FRONTEND_NAME, visual_encoder_note=FRONTEND_NOTE,
        needs_frontend_weights=True,
        # The separator weights are shared as Google Drive folders (no stable address, no
        # published checksum: see README.md); the front-end is the LRW backbone they publish.
        official_files=(FRONTEND_RELEASES["frcnn_128_512.backbone.pth.tar"],))

    def __init__(self, n_src: int = 1, n_filters: int = 512, kernel_size: int = 21,
                 stride: int = 10, bn_chan: int = 512, hid_chan: int = 512,
                 upsampling_depth: int = 5, an_repeats: int = 3, fn_repeats: int = 13,
                 vout_chan: int = 512, video_chan: int = 64, video_depth: int = 4,
                 video_kernel_size: int = 3, sample_rate: int = 16000,
                 conv_before_upsample: bool = False) -> None:
        super().__init__()
        if an_repeats < 1:
            raise ValueError("an_repeats must be >= 1")
        self.config: dict[str, Any] = {
            "n_src": n_src, "n_filters": n_filters, "kernel_size": kernel_size,
            "stride": stride, "bn_chan": bn_chan, "hid_chan": hid_chan,
            "upsampling_depth": upsampling_depth, "an_repeats": an_repeats,
            "fn_repeats": fn_repeats, "vout_chan": vout_chan, "video_chan": video_chan,
            "video_depth": video_depth, "video_kernel_size": video_kernel_size,
            "sample_rate": sample_rate, "conv_before_upsample": bool(conv_before_upsample),
        }
        self.n_src = n_src
        self.sample_rate = sample_rate
        self.encoder = PaddedEncoder(FreeFilterbank(n_filters, kernel_size, stride),
                                     upsampling_depth)
        self.masker = AudioVisualMasker(n_filters, n_src, bn_chan, hid_chan, upsampling_depth,
                                        an_repeats, fn_repeats, vout_chan, video_chan,
                                        video_depth, video_kernel_size, conv_before_upsample)
        self.decoder = FilterbankDecoder(FreeFilterbank(n_filters, kernel_size, stride))
        self.lip_frontend = _build_lip_frontend()

    # ---------------------------------------------------------------- forward passes
    # forward(mixture, lips) = separate(mixture, embed_lips(lips)): AVSeparator.

    def inference_variant(self) -> CTCNet:
        """This model with every 1x1 conv moved before its upsampling (`conv_before_upsample`:
        the same function, equal up to float rounding, 33 % fewer MACs): what the compiled
        inference graphs run (`avss_bench.models.inference`). A copy; `self` is unchanged."""
        variant = copy.deepcopy(self)
        for module in variant.modules():
            if hasattr(module, "conv_before_upsample"):
                module.conv_before_upsample = True
        return variant.eval()

    def separate(self, mixture: torch.Tensor, video_embedding: torch.Tensor) -> torch.Tensor:
        """The separation network alone, on a precomputed lip embedding [B, 512, F]."""
        wav = as_batch(mixture)
        if video_embedding.ndim != 3 or video_embedding.shape[0] != wav.shape[0]:
            raise ValueError(f"video_embedding must be [B={wav.shape[0]}, C, F], got "
                             f"{list(video_embedding.shape)}")
        length = wav.shape[-1]
        enc = self.encoder(wav.unsqueeze(1))                          # [B, N, T']
        mask = self.masker(enc, video_embedding.to(enc.dtype))        # [B, S, N, T']
        est = self.decoder(mask * enc.unsqueeze(1))[..., :length]     # [B, S, L]
        return est[:, 0] if self.n_src == 1 else est

    # ---------------------------------------------------------------- weights
    def separation_parameters(self):
        """Parameters of the separation network (everything but the lip front-end)."""
        return (p for name, p in self.named_parameters()
                if not name.startswith("lip_frontend."))

    def separation_state_dict(self) -> dict[str, torch.Tensor]:
        """The separation network's state dict in the official key layout (415 entries)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("lip_frontend.")}

    def load_official_state_dict(self, state: Mapping[str, torch.Tensor],
                                 source: str = "state dict") -> CTCNet:
        """Load the separation network from a state dict in the official key layout, strictly.

        Either filterbank entry may stand for both (they are one tensor); if both are given
        they must be equal. Missing `num_batches_tracked` buffers are set to 0.

        Raises:
            AvssError: listing missing, unexpected or wrongly shaped keys.
        """
        state = dict(state)
        present = [k for k in FILTERBANK_KEYS if k in state]
        if len(present) == 2 and not torch.equal(state[FILTERBANK_KEYS[0]],
                                                 state[FILTERBANK_KEYS[1]]):
            raise AvssError(f"{source}: the two encoder filterbank entries {FILTERBANK_KEYS} "
                            "differ; they must hold the same tensor")
        if len(present) == 1:
            for key in FILTERBANK_KEYS:
                state[key] = state[present[0]]
        state = fit_state_dict(state, self.separation_state_dict(), "CTCNet", source)
        result = self.load_state_dict(state, strict=False)
        leftover = [k for k in result.missing_keys if not k.startswith("lip_frontend.")]
        if leftover or result.unexpected_keys:  # pragma: no cover - guarded above
            raise AvssError(f"{source}: inconsistent keys {leftover} {result.unexpected_keys}")
        return self

    @classmethod
    def load_checkpoint(cls, path: str | Path, **config: Any) -> CTCNet:
        """Build a CTCNet from official weights.

        Accepts (all read with `weights_only=True`):
        * a plain state dict in the official key layout (`encoder.*`, `masker.*`, `decoder.*`),
          optionally with our `lip_frontend.*` keys;
        * the official release file `best_model.pth` (`{"model_name", "state_dict",
          "model_args", "infos"}`, as written by the official `serialize()`): `model_args`
          rebuilds the configuration;
        * an official training checkpoint (`{"state_dict": {"audio_model.*", "video_model.*"}}`;
          the video model is the lip front-end and is loaded too);
        * a `.zip` holding one of these (e.g. a downloaded release folder), with an optional
          `conf.yml` whose `audionet` section gives the configuration.
        Any `module.` (DataParallel) prefix is removed. Keyword arguments override the
        configuration found in the file.

        Raises:
            AvssError: unreadable file, unsupported configuration, or missing / unexpected keys.
        """
        path = Path(path)
        payload, yaml_conf = _read_any(path)
        separator, frontend, official_args = split_checkpoint(payload, str(path))
        if official_args is None and yaml_conf is not None:
            official_args = yaml_conf
        merged = config_from_official(official_args, str(path)) if official_args else {}
        merged.update(config)
        model = cls(**merged)
        model.load_official_state_dict(separator, str(path))
        if frontend:
            from avss_bench.models import load_frontend_weights

            load_frontend_weights(model.lip_frontend, frontend)
        model.frontend_loaded = bool(frontend)  # `load_separator` requires the LRW file if not
        return model.eval()


def _build_lip_frontend() -> nn.Module:
    from avss_bench.models import LipFrontend, freeze

    return freeze(LipFrontend(frozen_bn=True))






# ---------------------------------------------------------------- official formats
#: Official constructor / `model_args` values this implementation reproduces (others refused).
_FIXED_CHOICES = {
    "fb_name": ("free", "FreeFB"),
    "mask_act": ("relu",),
    "act_type": ("prelu",),
    "norm_type": ("gLN",),
    "encoder_activation": (None, "linear", "None"),
    "fusion_type": ("ConcatFC2",),
    "is_pinv": (False,),
}
#: Official argument -> our argument (same meaning).
_RENAMED = {"n_src": "n_src", "n_filters": "n_filters", "kernel_size": "kernel_size",
            "stride": "stride", "bn_chan": "bn_chan", "hid_chan": "hid_chan",
            "upsampling_depth": "upsampling_depth", "an_repeats": "an_repeats",
            "fn_repeats": "fn_repeats", "vout_chan": "vout_chan", "sample_rate": "sample_rate"}
#: Official arguments that the official model ignores (accepted, not used).
_IGNORED = {"n_blocks", "vin_chan", "vconv_kernel_size", "vn_repeats", "pretrain",
            "fusion_levels", "out_chan", "in_chan", "fout_chan", "fusion_shared"}


def config_from_official(args: Mapping[str, Any], source: str = "official config"
                         ) -> dict[str, Any]:
    """Map official CTCNet constructor arguments (the yaml's `audionet`, or the release file's
    `model_args`) onto ours; refuse settings this implementation does not reproduce."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key in _RENAMED:
            out[_RENAMED[key]] = int(value) if key != "sample_rate" else int(float(value))
        elif key in _FIXED_CHOICES:
            if value not in _FIXED_CHOICES[key]:
                raise AvssError(f"{source}: {key}={value!r} is not supported "
                                f"(supported: {_FIXED_CHOICES[key]})")
        elif key == "video_config":
            video = dict(value or {})
            dilations = video.get("dilations") or []
            if (video.get("shared", False) or any(int(d) != 1 for d in dilations)
                    or video.get("norm_type", "BatchNorm1d") != "BatchNorm1d"
                    or str(video.get("act_type", "prelu")).lower() != "prelu"
                    or float(video.get("dropout", -1)) > 0):
                raise AvssError(f"{source}: video_config {video} is not supported")
            if "iter" in video and int(video["iter"]) < int(args.get("an_repeats", 3)):
                raise AvssError(f"{source}: video_config iter < an_repeats cannot run")
            if "in_chan" in video:
                out["video_chan"] = int(video["in_chan"])
            if "depth" in video:
                out["video_depth"] = int(video["depth"])
            if "kernel_size" in video:
                out["video_kernel_size"] = int(video["kernel_size"])
            if "out_chan" in video and int(video["out_chan"]) != int(video.get("in_chan", 64)):
                raise AvssError(f"{source}: video in_chan != out_chan is not supported")
        elif key in _IGNORED:
            continue
        else:
            raise AvssError(f"{source}: unknown CTCNet argument '{key}'")
    if "fout_chan" in args and "bn_chan" in args and int(args["fout_chan"]) != int(
            args["bn_chan"]):
        raise AvssError(f"{source}: fout_chan must equal bn_chan")
    return out


def split_checkpoint(payload: Any, source: str = "checkpoint"
                     ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                dict[str, Any] | None]:
    """Split a loaded checkpoint into (separator state dict in the official layout,
    lip front-end state dict (possibly empty), official constructor args or None)."""
    if not isinstance(payload, Mapping):
        raise AvssError(f"{source}: not a state dict (got {type(payload).__name__})")
    args = None
    if isinstance(payload.get("model_args"), Mapping):
        args = dict(payload["model_args"])
    for name in ("state_dict", "model_state_dict", "model"):
        if isinstance(payload.get(name), Mapping):
            payload = payload[name]
            break
    separator, frontend = split_official_keys(payload, SEPARATOR_ROOTS, "CTCNet", source)
    if not separator:
        raise AvssError(f"{source}: no CTCNet weights found (expected keys under encoder.*, "
                        "masker.*, decoder.* or audio_model.*)")
    return separator, frontend, args


_WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".tar")


def _read_any(path: Path) -> tuple[Any, dict[str, Any] | None]:
    """Load a checkpoint file or a zip holding one; also return a zip's `audionet` config."""
    if not path.is_file():
        raise AvssError("checkpoint not found", path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any(n.endswith("data.pkl") for n in names):  # a release zip, not torch's own
                return _read_release_zip(zf, path)
    return _torch_load(path, path), None


def _torch_load(source: Any, path: Path) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad or unsafe files
        raise AvssError(f"cannot read checkpoint with weights_only=True: "
                        f"{str(err).splitlines()[0]}", path) from err


def _read_release_zip(zf: zipfile.ZipFile, path: Path) -> tuple[Any, dict[str, Any] | None]:
    weights = [n for n in zf.namelist() if n.endswith(_WEIGHT_SUFFIXES)
               and not n.split("/")[-1].startswith(".")]
    if not weights:
        raise AvssError("zip holds no weights file (.pth/.pt/.ckpt)", path)
    preferred = [n for n in weights if n.split("/")[-1] == "best_model.pth"]
    if preferred:
        weights = preferred
    if len(weights) > 1:
        raise AvssError(f"zip holds several weights files {weights}; extract the one to use",
                        path)
    payload = _torch_load(io.BytesIO(zf.read(weights[0])), path)
    conf = None
    for name in zf.namelist():
        if name.split("/")[-1] in ("conf.yml", "conf.yaml"):
            import yaml

            parsed = yaml.safe_load(zf.read(name))
            if isinstance(parsed, Mapping) and isinstance(parsed.get("audionet"), Mapping):
                conf = dict(parsed["audionet"])
            break
    return payload, conf
