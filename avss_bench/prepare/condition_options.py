"""The `prepare <corpus>` options of the robustness conditions, as one decorator.

Each may also be set in the preparation recipe (`--recipe PATH` or the bundled
`recipes/<corpus>/prepare.yaml`, keys in `prepare.config.CONDITION_KEYS`); an option given on
the command line overrides the recipe, which overrides the option's default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from avss_bench.core.numbers import NumberRange
from avss_bench.prepare.conditions import RT60_BOUNDS, SNR_BOUNDS, Conditions, parse_range

#: option parameter -> recipe key
RECIPE_KEYS = {"speakers": "speakers", "noise_dir": "noise", "snr": "snr", "rir_dir": "rir",
               "simulate_rooms": "simulate_rooms", "rt60": "rt60",
               "target_absent": "target_absent"}


def condition_options(func: Callable) -> Callable:
    """Add --speakers, --noise, --snr, --rir, --simulate-rooms, --rt60, --target-absent.

    On a command that also takes `--recipe` (a `prepare <corpus>` subcommand, named after its
    corpus), the options not given on the command line take the recipe's values.
    """
    options = [
        click.option("--speakers", default=2, show_default=True, type=click.IntRange(2, 4),
                     help="Speakers per mixture (3, 4: the wsj0-3mix law; lists are "
                          "generated, none exist for these corpora). This and the condition "
                          "options below may also be set in the --recipe YAML (keys speakers, "
                          "noise, snr, rir, simulate_rooms, rt60, target_absent); the command "
                          "line wins."),
        click.option("--noise", "noise_dir", default=None,
                     type=click.Path(file_okay=False, exists=True, path_type=Path),
                     help="A noise corpus in its real layout (WHAM! noise, MUSAN, DEMAND): "
                          "adds seeded real noise to every mixture."),
        click.option("--snr", default="0:10", show_default=True, type=NumberRange(SNR_BOUNDS),
                     help="SNR range (dB) of --noise against the speech mixture's P.56 level "
                          f"(each end {SNR_BOUNDS.describe()})."),
        click.option("--rir", "rir_dir", default=None,
                     type=click.Path(file_okay=False, exists=True, path_type=Path),
                     help="A RIR corpus (RIRS_NOISES layout): each source is convolved with a "
                          "real RIR; the reference is the direct path + 50 ms."),
        click.option("--simulate-rooms", is_flag=True,
                     help="Seeded shoebox rooms (pyroomacoustics) instead of --rir."),
        click.option("--rt60", default="0.2:0.8", show_default=True,
                     type=NumberRange(RT60_BOUNDS),
                     help="RT60 range (s) of --simulate-rooms (each end "
                          f"{RT60_BOUNDS.describe()})."),
        click.option("--target-absent", is_flag=True,
                     help="2-speaker mixtures whose lips belong to a third, silent face "
                          "(manifest column absent_utt)."),
    ]

    @functools.wraps(func)
    def with_recipe(*args: Any, **kwargs: Any) -> Any:
        if "recipe" in kwargs:
            kwargs.update(recipe_conditions(click.get_current_context(), kwargs["recipe"]))
        return func(*args, **kwargs)

    for option in reversed(options):
        with_recipe = option(with_recipe)
    return with_recipe


def recipe_conditions(ctx: click.Context, recipe: Path | None) -> dict[str, Any]:
    """The condition options the recipe sets and the command line leaves at their default."""
    from avss_bench.prepare.config import load_prepare_config

    config = load_prepare_config(str(ctx.command.name), recipe)
    out: dict[str, Any] = {}
    for param, key in RECIPE_KEYS.items():
        value = getattr(config, key)
        if value is None or ctx.get_parameter_source(param) not in (
                ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        out[param] = Path(value) if param.endswith("_dir") else value
    return out


def conditions_from_options(speakers: int = 2, noise_dir: Path | None = None,
                            snr: str | tuple[float, float] = "0:10",
                            rir_dir: Path | None = None, simulate_rooms: bool = False,
                            rt60: str | tuple[float, float] = "0.2:0.8",
                            target_absent: bool = False) -> Conditions:
    """The `Conditions` the options describe."""
    return Conditions(speakers=speakers,
                      noise_dir=None if noise_dir is None else str(noise_dir.resolve()),
                      snr_db=parse_range(snr, "--snr"),
                      rir_dir=None if rir_dir is None else str(rir_dir.resolve()),
                      simulate_rooms=simulate_rooms, rt60=parse_range(rt60, "--rt60"),
                      target_absent=target_absent)
