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
from avss_bench.core.numbers import Bounds, check_number, safe_load_numbers


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
            raw = safe_load_numbers(path.read_text()) or {}
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
            if not isinstance(target, dict):
                raise AvssError(f"override '{override}': '{part}' is not a section")
        try:
            target[parts[-1]] = safe_load_numbers(value)
        except yaml.YAMLError as err:
            raise AvssError(f"override '{override}': invalid value ({err.__class__.__name__})"
                            ) from None
    config = _from_dict(raw, source)
    validate_config(config, source)
    return config


#: Every recipe key's kind and range: ("int" | "float" | "bool" | "str" | "choice" | "split",
#: Bounds or choices, may it be None). `validate_config` checks a whole config against it.
SCHEMA: dict[str, tuple[str, Any, bool]] = {
    "model.name": ("str", None, True),  # unset: train asks for --model
    "model.config": ("mapping", None, False),
    "model.frontend_checkpoint": ("str", None, True),
    "model.sync_batchnorm": ("bool", None, False),
    "data.root": ("str", None, True),
    "data.train_split": ("split", None, False),
    "data.valid_split": ("split", None, False),
    "data.segment_s": ("float", Bounds(0.0, 60.0, low_open=True), False),
    "data.batch_size": ("int", Bounds(1, 4096, integer=True), False),
    "data.num_workers": ("int", Bounds(0, 256, integer=True), False),
    "data.preload": ("bool", None, False),
    "data.lip_augment": ("bool", None, False),
    "data.dynamic_mixing": ("bool", None, False),
    "data.lip_rows": ("int", Bounds(1, 88, integer=True), False),
    "optim.optimizer": ("choice", ("adam", "adamw"), False),
    "optim.lr": ("float", Bounds(0.0, 10.0, low_open=True), False),
    "optim.weight_decay": ("float", Bounds(0.0, 10.0), False),
    "optim.grad_clip": ("float", Bounds(0.0, 1e6), False),
    "optim.schedule": ("choice", ("plateau", "cosine"), False),
    "optim.warmup_steps": ("int", Bounds(0, None, integer=True), False),
    "optim.cosine_floor": ("float", Bounds(0.0, 1.0), False),
    "optim.plateau_factor": ("float", Bounds(0.0, 1.0, low_open=True, high_open=True), False),
    "optim.plateau_patience": ("int", Bounds(0, None, integer=True), False),
    "optim.early_stop_patience": ("int", Bounds(1, None, integer=True), False),
    "optim.max_epochs": ("int", Bounds(1, None, integer=True), False),
    "optim.max_minutes": ("float", Bounds(0.0, None, low_open=True), True),
    "optim.max_steps": ("int", Bounds(1, None, integer=True), True),
    "optim.checkpoint_every": ("int", Bounds(1, None, integer=True), True),
    "optim.loss": ("choice", ("snr", "si_snr"), False),
    "seed": ("int", Bounds(0, None, integer=True), False),
    "precision": ("choice", ("fp32", "bf16", "fp16"), False),
    "description": ("str", None, False),
}


def _checked(key: str, value: Any, source: str) -> Any:
    kind, rule, optional = SCHEMA[key]
    if value is None:
        if optional:
            return None
        raise AvssError(f"{key} must be set (it may not be null)", source)
    try:
        if kind in ("int", "float"):
            return check_number(value, key, rule)
    except AvssError as err:
        raise AvssError(str(err), source) from None
    if kind == "bool" and not isinstance(value, bool):
        raise AvssError(f"{key} must be true or false, got {value!r}", source)
    if kind in ("str", "choice", "split") and not isinstance(value, str):
        raise AvssError(f"{key} must be text, got {value!r}", source)
    if kind == "choice" and value not in rule:
        raise AvssError(f"{key} must be one of {', '.join(rule)}, got '{value}'", source)
    if kind == "split":
        from avss_bench.io.manifest import canonical_split

        try:
            canonical_split(value)
        except AvssError as err:
            raise AvssError(f"{key}: {err}", source) from None
    if kind == "mapping" and not isinstance(value, dict):
        raise AvssError(f"{key} must be a mapping of constructor arguments, got {value!r}",
                        source)
    return value


def validate_config(config: RunConfig, source: str = "<config>") -> None:
    """Check every key of `config` against `SCHEMA` (types, ranges, choices) and the keys that
    depend on each other, before anything is built or written; integral floats become ints."""
    for key in SCHEMA:
        section, _, name = key.rpartition(".")
        holder = getattr(config, section) if section else config
        setattr(holder, name, _checked(key, getattr(holder, name), source))
    opt = config.optim
    if opt.schedule == "cosine" and opt.max_steps is None:
        raise AvssError("optim.schedule=cosine needs optim.max_steps (the length of the decay)",
                        source)
    if opt.schedule == "cosine" and opt.warmup_steps >= opt.max_steps:
        raise AvssError(f"optim.warmup_steps ({opt.warmup_steps}) must be below optim.max_steps "
                        f"({opt.max_steps})", source)
    if config.model.name is not None:
        check_model_arguments(config.model.name, config.model.config, source)


def check_model_arguments(name: str, arguments: dict[str, Any], source: str) -> None:
    """model.config against the separator's constructor: known names, and numbers of the
    annotated kind (an int where `int` is annotated, finite floats)."""
    import inspect

    from avss_bench.models.registry import separators

    cls = separators.resolve(name).load_class()
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, value in arguments.items():
        what = f"model.config.{key}"
        param = params.get(key)
        if param is None or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            if takes_any:
                continue
            known = [k for k, p in params.items() if k != "self" and p.kind in (
                p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise AvssError(f"{what}: '{name}' takes no argument '{key}' (it takes: "
                            f"{', '.join(known)})", source)
        annotation = str(param.annotation)
        if annotation in ("int", "<class 'int'>"):
            try:
                check_number(value, what, Bounds(integer=True))
            except AvssError as err:
                raise AvssError(str(err), source) from None
            if isinstance(value, float):
                arguments[key] = int(value)
        elif annotation in ("float", "<class 'float'>"):
            try:
                check_number(value, what)
            except AvssError as err:
                raise AvssError(str(err), source) from None
        elif annotation in ("bool", "<class 'bool'>") and not isinstance(value, bool):
            raise AvssError(f"{what} must be true or false, got {value!r}", source)


def save_config(config: RunConfig, path: Path) -> None:
    """Write the fully resolved config as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
