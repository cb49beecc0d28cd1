"""Typed run configuration loaded from a recipe YAML, with `key.sub=value` overrides.

A recipe names the separator and its constructor arguments, the data, and the optimisation
setup. The fully resolved config is saved beside every checkpoint and result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from avss_bench.core.errors import AvssError


@dataclass
class ModelConfig:
    name: str | None = None  # registry name or package.module:Class (`train --model`)
    config: dict[str, Any] = field(default_factory=dict)  # constructor arguments
    # pretrained visual-encoder weights: a file (path, or name in the cache folder), or
    # "random" to train against a random one on purpose. Models whose card says
    # `needs_frontend_weights` refuse to train without one of the two.
    frontend_checkpoint: str | None = None
    # BatchNorm statistics over the global batch under DDP (sync_batchnorm=True in some
    # official trainings); off = per-process statistics.
    sync_batchnorm: bool = False


@dataclass
class DataConfig:
    root: str | None = None  # prepared corpus (contains manifests/)
    train_split: str = "tr"
    valid_split: str = "cv"
    segment_s: float = 2.0
    batch_size: int = 3
    num_workers: int = 0
    preload: bool = False
    lip_augment: bool = True  # random 88 crop + flip on training lips
    dynamic_mixing: bool = False  # remixing of training sources every epoch (some recipes)
    # lip crop height fed to the model: 88 (full crop) or 50 (the [:, :50] slice some official
    # loaders feed, e.g. the one the released IIANet weights were trained on)
    lip_rows: int = 88


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    # learning-rate schedule: "plateau" (the official recipes: halve after `plateau_patience`
    # epochs without a better validation score) or "cosine" (per step, from lr to
    # lr * cosine_floor over `max_steps`, after `warmup_steps` of linear warm-up; needs
    # max_steps: a fixed-budget run such as the demo)
    schedule: str = "plateau"
    warmup_steps: int = 0
    cosine_floor: float = 0.05
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    early_stop_patience: int = 20
    max_epochs: int = 500
    max_minutes: float | None = None  # wall-clock budget (the demo uses it); rank 0's clock
    max_steps: int | None = None  # stop after this many optimiser steps (exact on resume)
    checkpoint_every: int | None = None  # also write last.pt every N steps (mid-epoch resume)
    loss: str = "snr"  # training loss: snr (official) | si_snr


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (autocast) | fp16 (autocast + GradScaler)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}


def _from_dict(raw: dict[str, Any], source: str) -> RunConfig:
    config = RunConfig()
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise AvssError(f"section '{key}' must be a mapping", source)
            section = getattr(config, key)
            names = {f.name for f in dataclasses.fields(section)}
            for sub, sub_value in value.items():
                if sub not in names:
                    raise AvssError(f"unknown key '{key}.{sub}' (known: {sorted(names)})", source)
                setattr(section, sub, sub_value)
        elif key in {f.name for f in dataclasses.fields(RunConfig)}:
            setattr(config, key, value)
        else:
            raise AvssError(f"unknown key '{key}'", source)
    return config


def resolve_recipe(recipe: str | Path) -> Path:
    """A recipe path, or a bundled recipe name like `demo/tiny-av` or `lrs2/iianet`."""
    path = Path(recipe)
    if path.is_file():
        return path
    name = str(recipe).removeprefix("recipes/")
    name = name if name.endswith(".yaml") else f"{name}.yaml"
    bundled = resources.files("avss_bench.recipes").joinpath(name)
    if bundled.is_file():
        return Path(str(bundled))
    raise AvssError("recipe not found (give a YAML path or a bundled name like lrs2/iianet)",
                    recipe)


def load_config(recipe: str | Path | None,
                overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a recipe YAML and apply `section.key=value` overrides (values parsed as YAML)."""
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if recipe is not None:
        path = resolve_recipe(recipe)
        source = str(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise AvssError(f"invalid YAML: {err}", path) from err
    for override in overrides:
        if "=" not in override:
            raise AvssError(f"override '{override}' is not of the form key.sub=value")
        key, value = override.split("=", 1)
        target = raw
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = yaml.safe_load(value)
    return _from_dict(raw, source)


def save_config(config: RunConfig, path: Path) -> None:
    """Write the fully resolved config as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
