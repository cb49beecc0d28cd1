"""`avss-bench score`: not landed yet (metrics engine, issue 3)."""

from __future__ import annotations

import click

from avss_bench.cli._common import not_landed


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not available yet (metrics engine, issue 3): exits with status 2."""
    not_landed("score", "metrics engine, issue 3")
