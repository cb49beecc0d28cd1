"""Options and helpers shared by several verbs."""

from __future__ import annotations

import click

quiet_option = click.option("--quiet", "-q", is_flag=True, help="Silence progress bars.")
