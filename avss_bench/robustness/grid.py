"""The conditions of a robustness run: the clean point, visual damages and corpus folders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from avss_bench.core.errors import AvssError
from avss_bench.data.visual_conditions import parse_condition

#: Visual conditions run when none are given: missing and frozen frames, offsets both ways,
#: lower resolutions, half the frame rate.
DEFAULT_CONDITIONS = ("zero:10", "zero:30", "zero:60", "freeze:30", "offset:-3", "offset:3",
                      "lowres:24", "lowres:12", "fps:12.5")
#: Where each visual kind's clean input sits on its axis (lowres: the stored 96 px crop).
CLEAN_VALUE = {"zero": 0.0, "freeze": 0.0, "offset": 0.0, "lowres": 96.0, "fps": 25.0}
_NAMED = re.compile(r"^([a-z][a-z0-9]*?)_?(-?\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Condition:
    """One point of the grid: its folder name, its kind and parameter, the data it reads."""

    label: str
    kind: str  # clean, zero, freeze, offset, lowres, fps, absent, or a corpus condition's name
    value: float | None
    data_name: str
    data: Path
    visual: str | None = None  # the visual condition spec given to evaluate

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "kind": self.kind, "value": self.value,
                "data_name": self.data_name, "data": str(self.data), "visual": self.visual}


def parse_data(values: list[str]) -> list[tuple[str, Path]]:
    """`DIR` or `NAME=DIR` pairs; the first is the clean corpus (named `clean` if unnamed)."""
    if not values:
        raise AvssError("robustness needs --data (the clean prepared corpus)")
    pairs: list[tuple[str, Path]] = []
    for index, value in enumerate(values):
        name, sep, path = value.partition("=")
        if not sep:
            name, path = ("clean" if index == 0 else Path(value).name), value
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
            raise AvssError(f"--data name '{name}' must be letters, digits, '.', '_' or '-'")
        if any(name == seen for seen, _ in pairs):
            raise AvssError(f"--data name '{name}' is given twice")
        pairs.append((name, Path(path)))
    return pairs


def corpus_kind(name: str) -> tuple[str, float | None]:
    """A corpus condition's axis from its name: `snr0` -> (snr, 0), `rt60_0.6` -> (rt60, 0.6),
    `3spk`-like names without a trailing number -> (name, None), a category of its own."""
    found = _NAMED.match(name.lower())
    if found:
        return found.group(1), float(found.group(2))
    return name, None


def build_grid(data: list[tuple[str, Path]], visual: list[str], seed: int = 0
               ) -> list[Condition]:
    """Clean point first, then each visual condition on the clean corpus, then each corpus."""
    (clean_name, clean_dir), others = data[0], data[1:]
    grid = [Condition("clean", "clean", None, clean_name, clean_dir)]
    for spec in visual:
        condition = parse_condition(spec, seed)
        if condition.kind == "clean":
            continue
        grid.append(Condition(condition.label, condition.kind, condition.value, clean_name,
                              clean_dir, condition.spec))
    for name, folder in others:
        kind, value = corpus_kind(name)
        grid.append(Condition(name, kind, value, name, folder))
    labels = [c.label for c in grid]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise AvssError(f"condition '{repeated[0]}' is given twice (a --data name may not "
                        "repeat a visual condition's folder name)")
    return grid


def mark_target_absent(grid: list[Condition], split: str) -> list[Condition]:
    """Corpus conditions prepared with `--target-absent` become kind `absent` (scored by leak).

    Read from each folder's manifest (an `absent_lips` column), whatever its --data name. The
    clean corpus may not be one: its visual conditions would all repeat the same leak.
    """
    from avss_bench.evaluate.absent import has_absent_targets
    from avss_bench.io.manifest import manifest_path

    out = []
    for index, condition in enumerate(grid):
        if condition.visual is None and has_absent_targets(manifest_path(condition.data, split)):
            if index == 0:  # the clean point
                raise AvssError("the clean corpus (first --data) was prepared with "
                                "--target-absent; give a clean corpus first and this one as "
                                "a condition: -d absent=DIR", condition.data)
            condition = Condition(condition.label, "absent", None, condition.data_name,
                                  condition.data)
        out.append(condition)
    return out


def split_conditions(values: tuple[str, ...] | list[str]) -> list[str]:
    """`--conditions` values, each possibly comma-separated, in order, without repeats."""
    out: list[str] = []
    for value in values:
        for spec in value.split(","):
            if spec.strip() and spec.strip() not in out:
                out.append(spec.strip())
    return out
