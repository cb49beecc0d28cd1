"""`avss-bench report`: evaluation results as a static site to open in a browser."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The site folder: index.html, figures/, examples/.")
@click.option("--example", "example_ids", multiple=True,
              help="Also show this mixture (ID) or target (ID_s1); repeatable.")
@click.option("--title", default="avss-bench results", help="The page title.")
@click.option("--reported/--no-reported", default=True,
              help="Put the published rows (and ours − reported) beside our results on the "
                   "official test sets present.")
def command(results: tuple[Path, ...], out: Path, example_ids: tuple[str, ...],
            title: str, reported: bool) -> None:
    """Write a static site of RESULTS folders (searched for summary.json) into --out.

    One leaderboard table per test set (mean ± 95% CI, targets scored and failed, Params/MACs,
    latency per measuring device; published rows beside ours only on an official test set;
    sortable; each row's provenance one click away), a Pareto plot and each metric's per-target
    distribution per test set, the robustness runs found (their table and plot, as conditions
    of their clean test set), and an example browser (best, median and worst SI-SNRi of all the
    first result's targets, plus --example ids) with audio players, spectrograms and lip ROIs.
    Open OUT/index.html from disk; no server or network is needed.

    \b
      avss-bench report results/ --out site/
      avss-bench report results/iianet results/ctcnet --out site/ --example tt000
      avss-bench report demo/results --out site/ --no-reported
    """
    from avss_bench.report import build_report

    index = build_report(list(results), out, list(example_ids), title, reported=reported)
    click.echo(f"report -> {index}")
