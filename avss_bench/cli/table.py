"""`avss-bench table`: the leaderboard from evaluation (and profile) results."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]),
              default="markdown", help="Output format.")
@click.option("--no-ci", is_flag=True, help="Means only, without the ± 95% CI half-widths.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table to this file.")
def command(results: tuple[Path, ...], fmt: str, no_ci: bool, out: Path | None) -> None:
    """Build the comparison table from RESULTS folders (searched for summary.json).

    One row per method; SI-SNRi, SDRi, PESQ, STOI (mean ± 95% CI) per dataset, then Params
    (separator without the lip front-end), MACs and latency from a profile.json written beside
    the summary by `avss-bench profile --json`.

    \b
      avss-bench table results/ --format markdown
      avss-bench table results/iianet results/ctcnet --format latex --out table.tex
    """
    from avss_bench.leaderboard import collect, render

    text = render(collect(list(results)), fmt=fmt, with_ci=not no_ci)
    click.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
