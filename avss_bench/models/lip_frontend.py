"""The lip front-end ("video encoder") that several separators share: the LRW ResNet-18.

A lip-reading 3-D/2-D ResNet-18 (the Ma et al. LRW backbone with its TCN head removed):
a 3-D stem (Conv3d 5x7x7 -> BatchNorm3d -> per-channel PReLU -> MaxPool3d), then every frame
through a 2-D ResNet-18 trunk whose activations are per-channel PReLUs, global average pooling,
one 512-d vector per video frame (25 Hz).

Submodule names reproduce the official layout exactly (`frontend3D.{0,1,2}`,
`trunk.layer{1..4}.{0,1}.{conv1,bn1,relu1,relu2,conv2,bn2,downsample.{0,1}}`), so the official
front-end state dict and the LRW lip-reading checkpoints load without renaming.

Public API (stable; other packages import it):
    LipFrontend, load_lip_frontend(checkpoint=None, frozen_bn=False),
    load_frontend_weights(frontend, path_or_state_dict), freeze(frontend),
    find_frontend_checkpoint(name) (the file a recipe names, or a one-line error saying where
    to get it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avss_bench.core.errors import AvssError
from avss_bench.models.card import OfficialFile

__all__ = [
    "FRONTEND_NAME",
    "FRONTEND_NOTE",
    "FRONTEND_RELEASES",
    "LipFrontend",
    "find_frontend_checkpoint",
    "freeze",
    "frontend_state_dict_from",
    "load_frontend_weights",
    "load_lip_frontend",
]

EMBED_DIM = 512
STEM_CHANNELS = 64
#: Prefixes that wrappers put in front of the front-end keys (DataParallel, AV wrappers, ...).
KNOWN_PREFIXES = ("module.", "encoder.", "visual_frontend.", "video_model.", "lip_frontend.",
                  "frontend.", "model.")
#: Top-level names a front-end key starts with once prefixes are removed.
FRONTEND_ROOTS = ("frontend3D.", "trunk.")
#: The LRW lip-reading checkpoints this front-end is built from by the official separators that
#: use it (their cards list the one they need): file name -> where users get it and its sha256
#: (None: no checksum is published or known; a known one is checked whenever the file is loaded).
FRONTEND_RELEASES: dict[str, OfficialFile] = {f.name: f for f in (
    OfficialFile("lrw_resnet18_mstcn_adamw_s3.pth.tar",
                 "https://github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks",
                 None, "LRW lip-reading ResNet-18 + MS-TCN, from the model zoo of that "
                       "repository (resnet18_mstcn, adamw_s3); its TCN head is not used",
                 frontend=True),
    OfficialFile("frcnn_128_512.backbone.pth.tar", "https://github.com/JusperLee/CTCNet",
                 None, "LRW lip-reading ResNet-18 backbone, the pretrained lip front-end "
                       "published in that repository", frontend=True),
)}
#: What `profile` says about this front-end's cost (cards of models that use it quote it).
FRONTEND_NOTE = ("Lip front-end (ResNet-18, frozen): 11.19 M params, 7.90 G conv MACs per 1 s "
                 "(25 frames); the Dolphin paper lists it as 7.95 G (thop). Paper Params/MACs "
                 "columns exclude it.")
#: How a card names this front-end.
FRONTEND_NAME = "LRW ResNet-18 lip front-end (frozen)"
#: Value of `model.frontend_checkpoint` that asks for a randomly initialised front-end.
RANDOM = "random"


class _BasicBlock(nn.Module):
    """ResNet basic block with per-channel PReLU activations (official names and order)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu1 = nn.PReLU(out_ch)
        self.relu2 = nn.PReLU(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        if stride != 1 or in_ch != out_ch:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + shortcut)


class _Trunk(nn.Module):
    """2-D ResNet-18 trunk: four stages of two basic blocks, then global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        widths = (64, 128, 256, 512)
        strides = (1, 2, 2, 2)
        in_ch = STEM_CHANNELS
        for i, (width, stride) in enumerate(zip(widths, strides, strict=True), start=1):
            stage = nn.Sequential(_BasicBlock(in_ch, width, stride), _BasicBlock(width, width))
            self.add_module(f"layer{i}", stage)
            in_ch = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


class LipFrontend(nn.Module):
    """Lip-reading ResNet-18 front-end: mouth crops -> one 512-d embedding per frame.

    Args:
        frozen_bn: keep every BatchNorm in eval mode (running statistics, never updated) even
            when the module is put in train mode. Some official wrappers do this, others do
            not (their front-end BNs use batch statistics and update their running stats in
            train mode). Default False (a plain module; `train()`/`eval()` behave as usual).

    Shape:
        - lips: `[B, 1, F, 88, 88]` float, normalised ((x/255 - 0.421) / 0.165); other square
          sizes work too (global average pooling; e.g. the reference loader's 50x88 crops).
        - output: `[B, 512, F]` (25 Hz when F is at 25 fps).
    """

    def __init__(self, frozen_bn: bool = False) -> None:
        super().__init__()
        self.frozen_bn = bool(frozen_bn)
        # `trunk` first: the official registration order (state_dict key order).
        self.trunk = _Trunk()
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, STEM_CHANNELS, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3),
                      bias=False),
            nn.BatchNorm3d(STEM_CHANNELS),
            nn.PReLU(STEM_CHANNELS),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official random init: He-normal convs (std sqrt(2 / (k_numel * out))), BN 1/0."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                fan = module.weight[0, 0].numel() * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan) ** 0.5)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def config(self) -> dict[str, Any]:
        return {"frozen_bn": self.frozen_bn}

    def train(self, mode: bool = True) -> LipFrontend:
        super().train(mode)
        if mode and self.frozen_bn:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        if lips.ndim != 5 or lips.shape[1] != 1:
            raise ValueError(f"lips must be [B, 1, F, H, W], got {list(lips.shape)}")
        batch, _, frames = lips.shape[:3]
        x = self.frontend3D(lips)                       # [B, 64, F, H/4, W/4]
        x = x.transpose(1, 2).flatten(0, 1)             # [B*F, 64, H/4, W/4]
        x = self.trunk(x)                               # [B*F, 512]
        return x.view(batch, frames, -1).transpose(1, 2)  # [B, 512, F]


def freeze(frontend: nn.Module) -> nn.Module:
    """Set `requires_grad=False` on every parameter (the official front-ends are never trained)."""
    for param in frontend.parameters():
        param.requires_grad_(False)
    return frontend


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed and not key.startswith(FRONTEND_ROOTS):
        changed = False
        for prefix in KNOWN_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                changed = True
                break
    return key


def frontend_state_dict_from(payload: Any, source: str = "state dict") -> dict[str, torch.Tensor]:
    """Extract the front-end's tensors, in the official key layout, from a loaded checkpoint.

    Accepts a plain `{key: tensor}` dict in the official layout; an LRW lip-reading checkpoint
    (`{"model_state_dict": ...}` or `{"state_dict": ...}`); keys prefixed by `module.`,
    `encoder.`, `visual_frontend.`, `video_model.`, `lip_frontend.` (in any nesting). Keys that
    are not front-end keys (the lip-reading TCN head `tcn.*`, a classifier, a separator) are
    ignored.
    """
    if isinstance(payload, Mapping):
        for name in ("model_state_dict", "state_dict", "model"):
            inner = payload.get(name)
            if isinstance(inner, Mapping):
                payload = inner
                break
    if not isinstance(payload, Mapping):
        raise AvssError(f"{source} is not a state dict (got {type(payload).__name__})")
    out: dict[str, torch.Tensor] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            continue
        stripped = _strip_prefixes(key)
        if stripped.startswith(FRONTEND_ROOTS):
            if stripped in out:
                raise AvssError(f"{source}: front-end key '{stripped}' occurs twice "
                                f"(second time as '{key}')")
            out[stripped] = value
    return out


def load_frontend_weights(frontend: LipFrontend, path: str | Path | Mapping[str, Any]
                          ) -> LipFrontend:
    """Load front-end weights in place, strictly; the front-end stays frozen as it was.

    Args:
        frontend: the module to fill.
        path: a `.pt`/`.pth`/`.pth.tar` file (loaded with `weights_only=True`) or an already
            loaded dict, in any layout `frontend_state_dict_from` accepts.

    Raises:
        AvssError: unreadable file, or missing / wrongly shaped front-end keys (listed).
    """
    if isinstance(path, Mapping):
        payload: Any = path
        source = "state dict"
    else:
        path = Path(path)
        if not path.is_file():
            raise AvssError("lip front-end checkpoint not found", path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for bad files
            raise AvssError(f"cannot read lip front-end checkpoint: "
                            f"{str(err).splitlines()[0]}", path) from err
        source = str(path)
        _check_sha256(path)
    state = frontend_state_dict_from(payload, source)
    if not state:
        raise AvssError(f"{source} holds no lip front-end weights (no frontend3D.*/trunk.* "
                        "keys; separator releases have none): give the LRW lip-reading "
                        f"checkpoint ({', '.join(FRONTEND_RELEASES)})")
    expected = frontend.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise AvssError(
            f"{source} does not fit the lip front-end: {len(missing)} missing key(s) "
            f"{missing[:8]}{' ...' if len(missing) > 8 else ''}, {len(unexpected)} unexpected "
            f"front-end key(s) {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    wrong = [f"{k}: {list(state[k].shape)} != {list(v.shape)}" for k, v in expected.items()
             if state[k].shape != v.shape]
    if wrong:
        raise AvssError(f"{source}: wrongly shaped lip front-end tensors: {wrong[:8]}")
    frontend.load_state_dict(state, strict=True)
    return frontend


def load_lip_frontend(checkpoint: str | Path | Mapping[str, Any] | None = None,
                      frozen_bn: bool = False) -> LipFrontend:
    """Build the lip front-end, optionally load weights, freeze it and put it in eval mode.

    Args:
        checkpoint: official front-end state dict, or an LRW lip-reading checkpoint
            (`lrw_resnet18_mstcn_adamw_s3.pth.tar`, `frcnn_128_512.backbone.pth.tar`), or None
            for random (He-normal) weights.
        frozen_bn: see `LipFrontend`.

    Returns:
        A `LipFrontend` in eval mode with `requires_grad=False` on every parameter.
    """
    frontend = LipFrontend(frozen_bn=frozen_bn)
    if checkpoint is not None:
        load_frontend_weights(frontend, checkpoint)
    return freeze(frontend).eval()


def _check_sha256(path: Path) -> None:
    """Verify a known release file against its published sha256 (where one is known)."""
    release = FRONTEND_RELEASES.get(path.name)
    if release is not None and release.sha256:
        from avss_bench.core.hashing import sha256_of

        actual = sha256_of(path)
        if actual != release.sha256:
            raise AvssError(f"sha256 {actual} does not match the published {release.sha256} "
                            "(corrupt or different file)", path)


def frontend_cache_dir() -> Path:
    """Where `find_frontend_checkpoint` also looks: `frontends/` in the cache folder."""
    from avss_bench.core.cache import cache_path

    return cache_path("frontends")


def find_frontend_checkpoint(name: str | Path, release: OfficialFile | None = None) -> Path:
    """The front-end checkpoint a recipe names: the path as given, else the cache folder.

    Raises a one-line `AvssError` naming the file and where users get it (`release`, the
    model card's entry for it, else the LRW release of that name) when it is absent.
    """
    path = Path(name).expanduser()
    for candidate in (path, frontend_cache_dir() / path.name):
        if candidate.is_file():
            return candidate
    release = release or FRONTEND_RELEASES.get(path.name)
    where = (f"download it from {release.url} ({release.what})" if release
             else "check the path")
    raise AvssError(
        f"lip front-end checkpoint not found: {where} and put it at {path} or in "
        f"{frontend_cache_dir()}/ (or train with a random front-end: --random-frontend)", path)
