"""`avss-bench profile`: not landed yet (models and profiling, issue 5)."""

from __future__ import annotations

import click

from avss_bench.cli._common import not_landed


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not available yet (models and profiling, issue 5): exits with status 2."""
    not_landed("profile", "models and profiling, issue 5")
