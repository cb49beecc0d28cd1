"""Numbers a user gives: parsed once, where they are read, and checked finite and in range.

Every numeric option and recipe value goes through `check_number` (or `parse_number` /
`parse_range` for text), so `nan`, `inf`, `1e999`, `2.5` where an integer is meant, and values
outside the range a stage can work with are one `AvssError` naming the option, never a silent
NaN downstream. `Bounds` carries a range and says it in words for `--help`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from avss_bench.core.errors import AvssError


@dataclass(frozen=True)
class Bounds:
    """A closed or half-open interval of allowed values (None: unbounded on that side)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    integer: bool = False
    high_open: bool = False  # high itself is excluded

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value < self.high or (value == self.high
                                                          and not self.high_open)

    def describe(self) -> str:
        """`in [0.2, 1]`, `>= 1`, `> 0`, or `` (unbounded)."""
        fmt = _fmt
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{fmt(self.low)}, {fmt(self.high)}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {fmt(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {fmt(self.high)}"
        return ""


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_number(value: object, what: str, bounds: Bounds = Bounds()) -> float | int:
    """`value` as an int (bounds.integer) or a finite float inside `bounds`, else AvssError."""
    kind = "an integer" if bounds.integer else "a finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AvssError(f"{what} must be {kind}, got {value!r}")
    if bounds.integer and not isinstance(value, int):
        if not math.isfinite(value) or not float(value).is_integer():
            raise AvssError(f"{what} must be {kind}, got {value!r}")
        value = int(value)
    if not math.isfinite(value):
        raise AvssError(f"{what} must be {kind}, got {value!r}")
    if not bounds.contains(value):
        raise AvssError(f"{what} must be {bounds.describe()}, got {_fmt(value)}")
    return value


def safe_load_numbers(text: str) -> Any:
    """`yaml.safe_load`, but `1e-5` and `5e-4` are floats as in YAML 1.2 and Python (YAML 1.1,
    which PyYAML follows, reads a number with an exponent and no dot as a string)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789."))
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def parse_number(text: object, what: str, bounds: Bounds = Bounds()) -> float | int:
    """A number from text (`"1e-5"`, `"3"`), checked as `check_number`."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return check_number(text, what, bounds)
    raw = str(text).strip()
    try:
        value: float | int = int(raw) if bounds.integer else float(raw)
    except ValueError:
        try:
            value = float(raw)  # "2.5" for an integer: reported as not an integer
        except ValueError:
            kind = "an integer" if bounds.integer else "a number"
            raise AvssError(f"{what} must be {kind}, got '{text}'") from None
    return check_number(value, what, bounds)


def parse_range(text: object, what: str, bounds: Bounds = Bounds()) -> tuple[float, float]:
    """`"LOW:HIGH"` (or one number: LOW = HIGH) -> (low, high), finite, in `bounds`, low <= high."""
    parts = str(text).split(":")
    if len(parts) not in (1, 2) or not all(p.strip() for p in parts):
        raise AvssError(f"{what} must be LOW:HIGH, got '{text}'")
    try:
        values = [parse_number(p, what, bounds) for p in parts]
    except AvssError as err:
        raise AvssError(f"{err} (from '{text}')") from None
    low, high = float(values[0]), float(values[-1])
    if low > high:
        raise AvssError(f"{what} LOW:HIGH needs LOW <= HIGH, got '{text}'")
    return low, high


class Number(click.ParamType):
    """A finite number inside `bounds` (an integer when `bounds.integer`): `nan`, `inf`, `2.5`
    for an integer and out-of-range values are usage errors naming the option."""

    def __init__(self, bounds: Bounds = Bounds()) -> None:
        self.bounds = bounds
        self.name = "integer" if bounds.integer else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float | int:
        try:
            return parse_number(value, "value", self.bounds)
        except AvssError as err:
            self.fail(str(err).removeprefix("value "), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INTEGER" if self.bounds.integer else "FLOAT"


class NumberRange(click.ParamType):
    """`LOW:HIGH` (or one number), both finite and inside `bounds`, LOW <= HIGH -> a tuple."""

    name = "range"

    def __init__(self, bounds: Bounds = Bounds()) -> None:
        self.bounds = bounds

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> tuple[float, float]:
        if isinstance(value, tuple):
            value = ":".join(str(v) for v in value)
        try:
            return parse_range(value, "value", self.bounds)
        except AvssError as err:
            self.fail(str(err).removeprefix("value "), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "LOW:HIGH"


def number_option(*decls: str, bounds: Bounds, help: str, pair: bool = False,  # noqa: A002
                  **kwargs: Any) -> Callable:
    """A click option of a checked number (or `LOW:HIGH` pair); its range is said in --help."""
    where = bounds.describe()
    text = f"{help} Range: {where}." if where else help
    kind = NumberRange(bounds) if pair else Number(bounds)
    return click.option(*decls, type=kind, help=text, **kwargs)
