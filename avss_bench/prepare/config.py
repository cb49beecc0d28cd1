"""Corpus preparation settings: `recipes/<corpus>/prepare.yaml`, overridden by CLI options.

The robustness conditions may be set here too, under the names of their options:
`speakers`, `noise`, `snr`, `rir`, `simulate_rooms`, `rt60`, `target_absent` (unset = the
option's default). `noise` and `rir` are folders, relative to the recipe file's folder; `snr`
and `rt60` are `LOW:HIGH`, `[LOW, HIGH]` or one number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from avss_bench.core.errors import AvssError
from avss_bench.io.manifest import SPLITS

SEGMENT_SECONDS = 2.0


@dataclass
class PrepareConfig:
    """Corpus preparation settings (`recipes/<corpus>/prepare.yaml`); CLI options override."""

    mix_list: str = "official"
    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    seed: int = 0
    num_mixtures: dict[str, int] | None = None
    segment_seconds: float = SEGMENT_SECONDS
    min_source_seconds: float = 0.0
    lips: bool = True
    # robustness conditions (None: the option's default); `condition_options` applies them
    speakers: int | None = None
    noise: str | None = None
    snr: str | None = None
    rir: str | None = None
    simulate_rooms: bool | None = None
    rt60: str | None = None
    target_absent: bool | None = None


CONDITION_KEYS = ("speakers", "noise", "snr", "rir", "simulate_rooms", "rt60", "target_absent")


def _condition_value(key: str, value: object, folder: Path | None, source: str) -> object:
    """A condition key's YAML value, checked; folders made absolute, ranges made `LOW:HIGH`."""
    if value is None:
        return None
    if key == "speakers":
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 4:
            raise AvssError(f"speakers must be 2, 3 or 4, got {value!r}", source)
        return value
    if key in ("simulate_rooms", "target_absent"):
        if not isinstance(value, bool):
            raise AvssError(f"{key} must be true or false, got {value!r}", source)
        return value
    if key in ("snr", "rt60"):
        if isinstance(value, list) and len(value) == 2:
            value = f"{value[0]}:{value[1]}"
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise AvssError(f"{key} must be LOW:HIGH, [LOW, HIGH] or a number, got {value!r}",
                            source)
        from avss_bench.prepare.conditions import parse_range

        try:
            parse_range(str(value), key)
        except AvssError as err:
            raise AvssError(str(err), source) from None
        return str(value)
    if not isinstance(value, str):  # noise, rir: folders
        raise AvssError(f"{key} must be a folder path, got {value!r}", source)
    path = Path(value).expanduser()
    if not path.is_absolute() and folder is not None:
        path = folder / path
    if not path.is_dir():
        raise AvssError(f"{key}: not a directory: {path}", source)
    return str(path.resolve())


def load_prepare_config(corpus: str, recipe: str | Path | None = None) -> PrepareConfig:
    """Read `recipe`, else the bundled `recipes/<corpus>/prepare.yaml`, else the defaults."""
    import dataclasses
    from importlib import resources

    import yaml

    from avss_bench.core.numbers import safe_load_numbers

    if recipe is None:
        bundled = resources.files("avss_bench.recipes").joinpath(f"{corpus}/prepare.yaml")
        if not bundled.is_file():
            return PrepareConfig()
        text, source = bundled.read_text(), f"recipes/{corpus}/prepare.yaml"
        folder = None
    else:
        path = Path(recipe)
        if not path.is_file():
            raise AvssError("preparation recipe not found", path)
        text, source = path.read_text(), str(path)
        folder = path.resolve().parent
    try:
        raw = safe_load_numbers(text) or {}
    except yaml.YAMLError as err:
        raise AvssError(f"invalid YAML: {err}", source) from err
    if not isinstance(raw, dict):
        raise AvssError("a preparation recipe must be a mapping", source)
    names = {f.name for f in dataclasses.fields(PrepareConfig)}
    config = PrepareConfig()
    for key, value in raw.items():
        if key == "corpus":
            if value != corpus:
                raise AvssError(f"recipe is for corpus '{value}', not '{corpus}'", source)
            continue
        if key not in names:
            raise AvssError(f"unknown key '{key}' (known: corpus, {', '.join(sorted(names))})",
                            source)
        if key in CONDITION_KEYS:
            value = _condition_value(key, value, folder, source)
        else:
            value = _setting_value(key, value, source)
        setattr(config, key, value)
    return config


def _setting_value(key: str, value: object, source: str) -> object:
    """A non-condition key's YAML value, checked (types; numbers finite and in range)."""
    from avss_bench.core.numbers import Bounds, check_number
    from avss_bench.io.manifest import canonical_split

    try:
        if key == "seed":
            return check_number(value, key, Bounds(integer=True))
        if key == "segment_seconds":
            return check_number(value, key, Bounds(0.0, 60.0, low_open=True))
        if key == "min_source_seconds":
            return check_number(value, key, Bounds(0.0, 60.0))
        if key == "num_mixtures" and value is not None:
            if not isinstance(value, dict):
                raise AvssError(f"num_mixtures must map splits to counts, got {value!r}")
            return {canonical_split(str(k)): check_number(v, f"num_mixtures.{k}",
                                                          Bounds(1, None, integer=True))
                    for k, v in value.items()}
        if key == "splits":
            if not isinstance(value, list) or not value:
                raise AvssError(f"splits must be a list of tr, cv, tt, got {value!r}")
            return [canonical_split(str(v)) for v in value]
    except AvssError as err:
        raise AvssError(str(err), source) from None
    if key == "lips" and not isinstance(value, bool):
        raise AvssError(f"lips must be true or false, got {value!r}", source)
    if key == "mix_list" and not isinstance(value, str):
        raise AvssError(f"mix_list must be official, generate or a folder, got {value!r}",
                        source)
    return value
