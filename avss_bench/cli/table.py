"""`avss-bench table`: the leaderboard from evaluation (and profile) results."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]),
              default="markdown", help="Output format.")
@click.option("--reported", is_flag=True,
              help="Add the published numbers (recipes/<corpus>/reported.csv) and the "
                   "difference ours − reported.")
@click.option("--no-ci", is_flag=True, help="Means only, without the ± 95% CI half-widths.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table to this file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Pareto plot (SI-SNRi vs MACs, marker area by Params) as PNG.")
@click.option("--plot-examples", "examples_dir", type=click.Path(path_type=Path),
              help="Write waveform + spectrogram panels (mixture / reference / estimate) for "
                   "the example wavs of every results folder into this folder.")
@click.option("--robustness", "robustness_view", is_flag=True,
              help="RESULTS are `avss-bench robustness` folders: models x conditions, SI-SNRi "
                   "and its drop from clean (markdown or csv).")
def command(results: tuple[Path, ...], fmt: str, reported: bool, no_ci: bool, out: Path | None,
            plot_path: Path | None, examples_dir: Path | None,
            robustness_view: bool = False) -> None:
    """Build the comparison table from RESULTS folders (searched for summary.json).

    One row per method; SI-SNRi, SDRi, PESQ, STOI (mean ± 95% CI) per dataset, then Params
    (separator without the lip front-end), MACs and latency from a profile.json written beside
    the summary by `avss-bench profile --json` (it must be of the same model and checkpoint).
    Two results of one method on one dataset are both shown, labelled by their folders.
    With --reported and no RESULTS (or none with a summary.json), the published comparison
    alone.

    \b
      avss-bench table results/ --format markdown --reported
      avss-bench table --reported
      avss-bench table results/iianet results/ctcnet --format latex --out table.tex
      avss-bench table results/ --reported --plot pareto.png --plot-examples plots/
    """
    from avss_bench.evaluate.leaderboard import collect, render, with_reported

    if robustness_view:
        from avss_bench.robustness.table import render_robustness

        text = render_robustness(list(results), fmt=fmt)
        click.echo(text)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n")
        return
    if not results and not reported:
        raise click.UsageError("no RESULTS given (results folders, or --reported for the "
                               "published comparison alone)")
    entries = collect(list(results), allow_empty=reported)
    shown = with_reported(entries) if reported else entries
    text = render(shown, fmt=fmt, with_ci=not no_ci)
    click.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if plot_path is not None:
        from avss_bench.evaluate.plots import pareto_plot

        click.echo(f"wrote {pareto_plot(shown, plot_path)}", err=True)
    if examples_dir is not None:
        from avss_bench.evaluate.plots import example_panels

        folders = sorted({p.parent for r in results for p in
                          ([r] if r.name == "summary.json" else r.rglob("summary.json"))})
        for folder in folders:
            if (folder / "examples").is_dir():
                for path in example_panels(folder, examples_dir / folder.name):
                    click.echo(f"wrote {path}", err=True)
