"""`avss-bench table`: the leaderboard from evaluation (and profile) results."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]),
              default="markdown",
              help="Output format; latex is a booktabs table with caption, ready for a paper.")
@click.option("--reported", is_flag=True,
              help="Add the published numbers (recipes/<corpus>/reported.csv) and the "
                   "difference ours − reported to the tables of official test sets.")
@click.option("--no-ci", is_flag=True, help="Means only, without the ± 95% CI half-widths.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table to this file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Pareto figure (SI-SNRi vs MACs per 1 s, one panel per test set, "
                   "marker area by Params), or with --robustness the robustness figure; PNG, "
                   "PDF or SVG by the file's extension.")
@click.option("--plot-examples", "examples_dir", type=click.Path(path_type=Path),
              help="Write waveform + spectrogram panels (mixture / reference / estimate) of "
                   "the examples every results folder kept (best, median, worst of all its "
                   "scored targets: evaluate --save-audio) into this folder.")
@click.option("--robustness", "robustness_view", is_flag=True,
              help="RESULTS are `avss-bench robustness` folders: models x conditions, SI-SNRi "
                   "and its drop from clean (markdown or csv); --plot draws their figure.")
def command(results: tuple[Path, ...], fmt: str, reported: bool, no_ci: bool, out: Path | None,
            plot_path: Path | None, examples_dir: Path | None,
            robustness_view: bool = False) -> None:
    """Build the comparison tables from RESULTS folders (searched for summary.json).

    One table per test set: results share a table only when they were measured on the same
    test set (equal fingerprints, recorded by `prepare` and carried by every summary.json), a
    condition of a set (damaged lips, a noisy copy) comes after it as its own table. Rows:
    SI-SNRi, SDRi, PESQ, STOI (mean ± 95% CI), targets scored (failed), then Params (separator
    without the lip front-end), MACs and latency from a profile.json written beside the summary
    by `avss-bench profile --json` (of the same model and checkpoint); each latency column
    names the device, threads and input length it was measured with. Two results of one method
    on one set are both shown, labelled by their folders. --reported adds the published rows
    and ours − reported only to the tables of official test sets (and says why for the
    others); with no RESULTS, the published comparison alone.

    \b
      avss-bench table results/ --format markdown --reported
      avss-bench table --reported
      avss-bench table results/iianet results/ctcnet --format latex --out table.tex
      avss-bench table results/ --reported --plot pareto.pdf --plot-examples plots/
      avss-bench table --robustness results/robust --plot robustness.pdf
    """
    from avss_bench.evaluate.leaderboard import collect, group_entries, render

    if plot_path is not None:
        from avss_bench.evaluate.paper_figures import figure_format

        figure_format(plot_path)  # a wrong extension is refused before any work
    if robustness_view:
        from avss_bench.robustness.table import read_robustness, render_robustness

        text = render_robustness(list(results), fmt=fmt)
        click.echo(text)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n")
        if plot_path is not None:
            from avss_bench.robustness.plot import robustness_plot

            frame = read_robustness(list(results))
            click.echo(f"wrote {robustness_plot(frame, plot_path)}", err=True)
        return
    if not results and not reported:
        raise click.UsageError("no RESULTS given (results folders, or --reported for the "
                               "published comparison alone)")
    groups = group_entries(collect(list(results), allow_empty=reported), reported=reported)
    text = render(groups, fmt=fmt, with_ci=not no_ci)
    click.echo(text)
    if fmt == "csv":  # a CSV holds no notes: why a set has no published rows goes to stderr
        for note in (n for g in groups for n in g.notes):
            click.echo(note, err=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if plot_path is not None:
        from avss_bench.evaluate.pareto import pareto_plot

        click.echo(f"wrote {pareto_plot(groups, plot_path)}", err=True)
    if examples_dir is not None:
        from avss_bench.evaluate.plots import example_panels

        folders = sorted({p.parent for r in results for p in
                          ([r] if r.name == "summary.json" else r.rglob("summary.json"))})
        for folder in folders:
            if (folder / "examples").is_dir():
                for path in example_panels(folder, examples_dir / folder.name):
                    click.echo(f"wrote {path}", err=True)
