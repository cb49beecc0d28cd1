"""Options and helpers shared by several verbs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bars or reports: one line says where the results "
                                 "went (demo: its tables still).")

# The separator a verb runs, as `evaluate` and `robustness` both take it.
model_option = click.option(
    "--model", "-m", default=None,
    help="Registered separator name (avss-bench models) or package.module:Class "
         "[default: the separator the checkpoint records].")
checkpoint_option = click.option(
    "--checkpoint", "-c", type=click.Path(dir_okay=False, path_type=Path),
    help="Weights: an avss-bench checkpoint, or an official state dict / release zip.")
frontend_checkpoint_option = click.option(
    "--frontend-checkpoint", type=click.Path(dir_okay=False, path_type=Path),
    help="Lip front-end weights (LRW lip-reading checkpoint), if separate.")
lip_rows_option = click.option(
    "--lip-rows", type=click.IntRange(1, 88), default=88,
    help="Lip crop height fed to the model. 88 = the full 88x88 crop; 50 = the official IIANet "
         "loaders' [:, :50] slice (50x88), the input its released checkpoints were trained and "
         "tested on. Recorded in summary.json.")
random_init_option = click.option(
    "--random-init", is_flag=True,
    help="Allow random weights: a trainable separator without --checkpoint, or a checkpoint "
         "without lip front-end weights and no --frontend-checkpoint. The row is labelled "
         "(random init).")
device_option = click.option("--device", default=None,
                             help="cpu, cuda, ... (default: cuda if present).")


def separator_options(func: Callable) -> Callable:
    """--model, --checkpoint and --frontend-checkpoint, in that order."""
    for option in (frontend_checkpoint_option, checkpoint_option, model_option):
        func = option(func)
    return func


def _checked_metrics(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from avss_bench.core.errors import AvssError
    from avss_bench.metrics.registry import metric_registry

    try:
        return metric_registry.parse(value)
    except AvssError as err:
        raise click.BadParameter(str(err)) from None


def metrics_option(default: str | None = None, note: str = "") -> Callable:
    """--metrics, checked against the metric registry while the options are parsed (before any
    model loads or file is read); the default is the registry's default set."""
    from avss_bench.core.errors import AvssError
    from avss_bench.metrics.registry import BUNDLED, metric_registry

    try:
        names, defaults = metric_registry.names(), metric_registry.defaults()
    except AvssError:  # a broken plugin: said when --metrics is checked, not in --help
        names, defaults = [m.name for m in BUNDLED], [m.name for m in BUNDLED if m.default]
    return click.option("--metrics", default=default or ",".join(defaults),
                        callback=_checked_metrics, show_default=True,
                        help=f"Comma-separated metrics among {', '.join(names)}.{note}")
