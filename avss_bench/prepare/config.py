"""Corpus preparation settings: `recipes/<corpus>/prepare.yaml`, overridden by CLI options."""

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


def load_prepare_config(corpus: str, recipe: str | Path | None = None) -> PrepareConfig:
    """Read `recipe`, else the bundled `recipes/<corpus>/prepare.yaml`, else the defaults."""
    import dataclasses
    from importlib import resources

    import yaml

    if recipe is None:
        bundled = resources.files("avss_bench.recipes").joinpath(f"{corpus}/prepare.yaml")
        if not bundled.is_file():
            return PrepareConfig()
        text, source = bundled.read_text(), f"recipes/{corpus}/prepare.yaml"
    else:
        path = Path(recipe)
        if not path.is_file():
            raise AvssError("preparation recipe not found", path)
        text, source = path.read_text(), str(path)
    try:
        raw = yaml.safe_load(text) or {}
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
        setattr(config, key, value)
    return config
