"""`avss-bench prepare`: not landed yet (corpus preparation, issue 4)."""

from __future__ import annotations

import click

from avss_bench.cli._common import not_landed


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not available yet (corpus preparation, issue 4): exits with status 2."""
    not_landed("prepare", "corpus preparation, issue 4")
