"""Official IIANet checkpoints: key mapping, loading (files, dicts, release zips), download.

Layouts understood (all loaded with `torch.load(..., weights_only=True)`):

* a flat state dict in the official key layout (`encoder.weight`, `sm.audio_blocks.0...`,
  `mask_net.1.weight`, `decoder.weight`): the separation network of
  `look2hear.models.IIANet`; front-end keys may be present (`lip_frontend.*`, `video_model.*` or
  bare `frontend3D.*`/`trunk.*`);
* the released `best_model.pth`: `{"model_name": "IIANet", "state_dict": ..., "model_args":
  audionet_config, "infos": ...}`, read by the official `BaseAVModel.from_pretrain`;
* a Lightning checkpoint of the official `AudioVisualLightningModule`: `state_dict` with
  `audio_model.` (separation net) and `video_model.` (front-end) prefixes and the training
  config under `training_config`;
* a release zip (`lrs2.zip`, `lrs3.zip`, `vox2.zip` from the official README): the checkpoint
  (`best_model.pth`) and the training config (`conf.yml`) are read from the archive in memory;
* older key names renamed by the authors' `replace_weight.py` (`mlp_avfusion` -> `InterA_T`,
  `concat_block` -> `InterA_B_A`, `video_concat` -> `InterA_B_V`) are mapped too;
* an avss-bench checkpoint (`{"format": "avss-bench/1", ...}`).

The released separator checkpoints hold no lip front-end: the official scripts build the
front-end from the LRW lip-reading checkpoint `lrw_resnet18_mstcn_adamw_s3.pth.tar`. Load it
with `load_separator(..., frontend_checkpoint=PATH)` (an error says so otherwise).
"""

from __future__ import annotations

import inspect
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from avss_bench.models import (
    WRAPPER_PREFIXES,
    AvssError,
    cache_path,
    download,
    fit_state_dict,
    frontend_state_dict_from,
    load_frontend_weights,
    sha256_of,
)

LEGACY_NAMES = {"mlp_avfusion": "InterA_T", "concat_block": "InterA_B_A",
                "video_concat": "InterA_B_V"}
SEPARATOR_PREFIXES = ("audio_model.", "audionet.")
FRONTEND_PREFIXES = ("lip_frontend.", "video_model.", "videonet.")
FORMAT = "avss-bench/1"


def cache_dir(override: str | Path | None = None) -> Path:
    """`override`, else the avss-bench cache folder (`avss_bench.core.cache`)."""
    return Path(override) if override is not None else cache_path()


def download_release(name: str, cache: str | Path | None = None, progress: bool = True) -> Path:
    """Download a release zip once into the cache and return its path.

    The addresses and sha256 (None: not published, then nothing is verified) are those of
    the model's card (`IIANet.card.official_files`).

    Args:
        name: 'lrs2', 'lrs3' or 'vox2'; or a path to an existing zip (returned unchanged).
        cache: cache folder (default: the avss-bench cache folder).
        progress: show a tqdm progress bar.

    Raises:
        AvssError: unknown name, network failure, or checksum mismatch (when one is known).
    """
    from avss_models.iianet.model import IIANet

    if Path(name).suffix == ".zip" and Path(name).is_file():
        return Path(name)
    release = IIANet.card.official_file(f"{name}.zip")
    if release is None:
        known = [f.name.removesuffix(".zip") for f in IIANet.card.official_files
                 if f.name.endswith(".zip")]
        raise AvssError(f"unknown IIANet release '{name}'; known: {', '.join(known)}")
    url, expected = release.url, release.sha256
    target = cache_dir(cache) / "iianet" / f"{name}.zip"
    if target.is_file() and (expected is None or sha256_of(target) == expected):
        return target
    try:
        return download(url, target, expected, desc=f"IIANet {name}.zip", progress=progress)
    except AvssError as err:
        raise AvssError(f"{err}; download it by hand and pass the zip's path instead") from None


# ---------------------------------------------------------------------------- reading files
def _torch_load(source: Path | io.BytesIO, label: str) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad or unsafe files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AvssError(f"cannot read checkpoint with weights_only=True: {first}",
                        label) from err


def _is_release_zip(path: Path) -> bool:
    """A zip archive that is not itself a torch.save file (those are zips holding data.pkl)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return True  # let _read_zip report it
    return not any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names)


def _read_zip(path: Path) -> tuple[Any, dict[str, Any]]:
    """(checkpoint payload, parsed conf.yml or {}) from a release zip, without extracting."""
    import yaml

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise AvssError(f"not a readable zip: {err}", path) from err
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")
                 and "__MACOSX" not in n and not Path(n).name.startswith(".")]
        weights = [n for n in names if n.endswith((".pth", ".pt", ".ckpt", ".pth.tar", ".bin"))]
        best = [n for n in weights if Path(n).name == "best_model.pth"]
        chosen = best or weights
        if len(chosen) != 1:
            raise AvssError(f"expected one checkpoint (best_model.pth) in the zip, found "
                            f"{chosen or 'none'}; members: {names[:20]}", path)
        payload = _torch_load(io.BytesIO(archive.read(chosen[0])), f"{path}:{chosen[0]}")
        confs = [n for n in names if n.endswith(("conf.yml", "conf.yaml"))]
        conf: dict[str, Any] = {}
        if confs:
            same_dir = [n for n in confs if Path(n).parent == Path(chosen[0]).parent]
            conf = yaml.safe_load(archive.read((same_dir or confs)[0])) or {}
    return payload, conf


# ---------------------------------------------------------------------------- key mapping
def _rename_legacy(key: str) -> str:
    return ".".join(LEGACY_NAMES.get(part, part) for part in key.split("."))


def split_official_state_dict(state: Mapping[str, Any]
                              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a loaded dict into (separation-net tensors, front-end tensors), official names."""
    separator: dict[str, torch.Tensor] = {}
    frontend_raw: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            continue
        k = key
        while k.startswith(WRAPPER_PREFIXES):
            k = k.split(".", 1)[1]
        if k.startswith(FRONTEND_PREFIXES) or k.startswith(("frontend3D.", "trunk.")):
            frontend_raw[k] = value
            continue
        for prefix in SEPARATOR_PREFIXES:
            if k.startswith(prefix):
                k = k[len(prefix):]
                break
        k = _rename_legacy(k)
        if k in separator:
            raise AvssError(f"key '{k}' occurs twice in the checkpoint (second time as '{key}')")
        separator[k] = value
    frontend = frontend_state_dict_from(frontend_raw) if frontend_raw else {}
    return separator, frontend


def _config_from(payload: Mapping[str, Any], conf: Mapping[str, Any]) -> dict[str, Any]:
    """The official audionet_config (+ sample rate), from conf.yml, model_args or the
    Lightning `training_config`."""
    found: dict[str, Any] = {}
    training = payload.get("training_config")
    for source in (training, conf):
        if isinstance(source, Mapping):
            audionet = source.get("audionet", {})
            if isinstance(audionet, Mapping) and isinstance(audionet.get("audionet_config"),
                                                            Mapping):
                found.update(audionet["audionet_config"])
            data = source.get("datamodule", {})
            rate = data.get("data_config", {}).get("sample_rate") if isinstance(data,
                                                                                Mapping) else None
            if rate is not None:
                found["sample_rate"] = rate
    args = payload.get("model_args")
    if isinstance(args, Mapping):
        found.update(args)
    return found


def _constructor_keys(cls: type) -> set[str]:
    keys: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            keys |= {n for n, p in params.items()
                     if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return keys


def load_official(cls: type, path: str | Path | Mapping[str, Any], **config: Any):
    """Build `cls` (IIANet or a subclass) from any layout listed in the module docstring."""
    label: str
    conf: dict[str, Any] = {}
    if isinstance(path, Mapping):
        payload: Any = path
        label = "state dict"
    else:
        path = Path(path)
        label = str(path)
        if not path.is_file():
            raise AvssError("checkpoint not found", path)
        if _is_release_zip(path):
            payload, conf = _read_zip(path)
        else:
            payload = _torch_load(path, label)
    if not isinstance(payload, Mapping):
        raise AvssError(f"not a checkpoint dict (got {type(payload).__name__})", label)

    if payload.get("format") == FORMAT:  # our own format (also handled by avss_bench)
        model = cls(**{**payload["config"], **config})
        model.load_state_dict(fit_state_dict(payload["state_dict"], model.state_dict(),
                                             cls.__name__, label))
        return model.eval()

    file_config = {k: v for k, v in _config_from(payload, conf).items()
                   if k in _constructor_keys(cls)}
    if not getattr(cls, "_num_blocks_from_checkpoint", True):
        file_config.pop("num_blocks", None)
    model = cls(**{**file_config, **config})

    state = payload
    for name in ("state_dict", "model_state_dict", "model"):
        if isinstance(payload.get(name), Mapping):
            state = payload[name]
            break
    separator, frontend = split_official_state_dict(state)
    separator = fit_state_dict(separator, model.separation_state_dict(),
                               f"{cls.__name__} (official key layout)", label)
    model.load_state_dict(separator, strict=False)  # the key sets were checked just above
    if frontend:
        load_frontend_weights(model.lip_frontend, frontend)
    # The official releases hold the separation network only: `load_separator` then requires
    # the LRW front-end file (or an explicit random front-end) instead of running with noise.
    model.frontend_loaded = bool(frontend)
    return model.eval()
