"""Options and helpers shared by several verbs."""

from __future__ import annotations

import click

from avss_bench.errors import NotLandedError

quiet_option = click.option("--quiet", "-q", is_flag=True, help="Silence progress bars.")


def not_landed(verb: str, issue: str) -> None:
    """Stop a verb whose capability has not been built yet (exit status 2)."""
    raise NotLandedError(f"'{verb}' is not available yet ({issue}); nothing was done.")
