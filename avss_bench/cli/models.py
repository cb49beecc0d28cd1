"""`avss-bench models`: list every separator registered through entry points."""

from __future__ import annotations

import json

import click

from avss_bench.models.registry import separators


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print name -> import path as JSON.")
def command(as_json: bool) -> None:
    """List every registered separator (bundled ones and installed plugins).

    A plugin registers in its own pyproject.toml:

    \b
      [project.entry-points."avss_bench.separators"]
      my-sep = "my_pkg.model:MySeparator"

    Example: avss-bench models --json
    """
    entries = separators.entries()
    if as_json:
        click.echo(json.dumps({e.name: e.target for e in entries.values()}, indent=2))
        return
    width = max((len(name) for name in entries), default=4)
    for entry in entries.values():
        summary = ""
        try:
            doc = entry.load_class().__doc__ or ""
            summary = doc.strip().splitlines()[0] if doc.strip() else ""
        except Exception as err:  # a broken plugin must not hide the others
            summary = f"(cannot load: {err})"
        click.echo(f"{entry.name:<{width}}  {entry.target}  {summary}")
