"""`avss-bench models`: list every separator registered through entry points, or one's card."""

from __future__ import annotations

import dataclasses
import json

import click

from avss_bench.models.registry import separators


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print name -> import path as JSON.")
@click.option("--card", "card_of", default=None, metavar="NAME",
              help="Print the card of one separator (a registered name or "
                   "package.module:Class): what it is, how its papers count it, its visual "
                   "encoder, its official files and their sha256; with --json as JSON.")
def command(as_json: bool, card_of: str | None) -> None:
    """List every registered separator (bundled ones and installed plugins).

    A plugin registers in its own pyproject.toml:

    \b
      [project.entry-points."avss_bench.separators"]
      my-sep = "my_pkg.model:MySeparator"

    Examples: avss-bench models --json; avss-bench models --card rtfsnet
    """
    if card_of is not None:
        entry = separators.resolve(card_of)
        card = entry.card()
        if as_json:
            click.echo(json.dumps({"name": entry.name, "target": entry.target,
                                   "package": entry.package(),
                                   "card": dataclasses.asdict(card)}, indent=2))
            return
        click.echo(format_card(entry.name, entry.target, card))
        return
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


def format_card(name: str, target: str, card) -> str:  # noqa: ANN001 - a ModelCard
    """The card as `avss-bench models --card` prints it."""
    lines = [f"{card.name}  ({name}: {target})"]
    for label, value in (("paper", card.paper), ("published as", card.reported_as),
                         ("counting", card.counting),
                         ("visual encoder", card.visual_encoder or "none (audio only)"),
                         ("encoder note", card.visual_encoder_note)):
        if value:
            lines.append(f"  {label:<15} {value}")
    lines.append(f"  {'front-end':<15} "
                 + ("needs trained weights (a checkpoint without them is refused unless "
                    "--random-init)" if card.needs_frontend_weights else
                    "no pretrained weights needed"))
    for file in card.official_files:
        digest = file.sha256 or "not published (not verified)"
        lines.append(f"  {'official file':<15} {file.name}: {file.what}; {file.url}; "
                     f"sha256 {digest}")
    return "\n".join(lines)
