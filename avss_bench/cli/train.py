"""`avss-bench train`: not landed yet (training and evaluation, issue 6)."""

from __future__ import annotations

import click

from avss_bench.cli._common import not_landed


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not available yet (training and evaluation, issue 6): exits with status 2."""
    not_landed("train", "training and evaluation, issue 6")
