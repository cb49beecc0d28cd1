"""`avss-bench robustness`: evaluate a separator over damaged video and harder corpora."""

from __future__ import annotations

from pathlib import Path

import click

from avss_bench.cli._common import (
    device_option,
    lip_rows_option,
    metrics_option,
    quiet_option,
    random_init_option,
    separator_options,
)


@click.command(context_settings={"show_default": True})
@separator_options
@click.option("--data", "-d", "data", multiple=True, required=True,
              help="Prepared corpus folder; the first is the clean one, on which the visual "
                   "conditions run. Repeat as NAME=DIR for corpus conditions (snr0=data/snr0, "
                   "rt60_0.6=..., 3spk=...): a trailing number in NAME is the plot's x value. "
                   "A folder prepared with --target-absent (absent=DIR) is scored by its leak "
                   "(output-to-mixture energy, dB, lower is better; SI-SNRi is undefined "
                   "without a target), in the leak_db column of robustness.csv.")
@click.option("--conditions", multiple=True,
              help="Visual conditions, comma-separated or repeated: zero:K, freeze:K (K % of "
                   "frames), offset:K (frames), lowres:P (pixels), fps:R. [default: zero:10,"
                   "zero:30,zero:60,freeze:30,offset:-3,offset:3,lowres:24,lowres:12,fps:12.5; "
                   "'none' runs only clean and the corpus conditions]")
@click.option("--seed", type=click.IntRange(0), default=0,
              help="Seed of the visual conditions' random draws (stamped into each result).")
@click.option("--split", default="tt", help="tr, cv or tt.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/robustness"),
              help="Folder: <model>/<condition>/ results, robustness.csv, robustness.png.")
@metrics_option("si_snr", " robustness.csv reports SI-SNRi: si_snr is needed.")
@click.option("--name", default=None, help="The model's name in the CSV, plot and table.")
@lip_rows_option
@random_init_option
@click.option("--overwrite", is_flag=True,
              help="Start over in condition folders holding another evaluation.")
@device_option
@quiet_option
def command(model: str | None, checkpoint: Path | None, frontend_checkpoint: Path | None,
            data: tuple[str, ...], conditions: tuple[str, ...], seed: int, split: str,
            out: Path, metrics: tuple[str, ...], name: str | None, lip_rows: int, random_init: bool,
            overwrite: bool, device: str | None, quiet: bool) -> None:
    """Evaluate one separator on a grid of conditions and report its degradation.

    Each condition is an ordinary evaluation folder OUT/<model>/<condition>/. OUT/robustness.csv
    holds one row per (model, condition): SI-SNRi, its 95% CI and the drop from the model's
    clean SI-SNRi; OUT/robustness.png plots SI-SNRi against each condition's parameter, one
    line per model (run a second model into the same OUT to compare). `avss-bench table
    --robustness OUT` prints models x conditions. A corpus prepared with `prepare
    --target-absent`, given as -d absent=DIR, is reported by its leak in dB (leak_db; lower is
    better) instead of SI-SNRi, which is undefined without a target.

    \b
      avss-bench robustness -m iianet -c IIANet_LRS2.zip -d data/lrs2 --lip-rows 50
      avss-bench robustness -c runs/mine/best.pt -d data/lrs2 -d snr0=data/lrs2_snr0 \\
          --conditions zero:30,offset:2,fps:12.5 --name mine
      avss-bench robustness -c best.pt -d data/lrs2 -d absent=data/lrs2-absent --conditions none
    """
    from avss_bench.robustness.grid import (
        DEFAULT_CONDITIONS,
        build_grid,
        parse_data,
        split_conditions,
    )
    from avss_bench.robustness.plot import robustness_plot
    from avss_bench.robustness.run import run_robustness

    visual = split_conditions(conditions) if conditions else list(DEFAULT_CONDITIONS)
    visual = [] if visual == ["none"] else visual
    grid = build_grid(parse_data(list(data)), visual, seed)
    frame = run_robustness(model, checkpoint, grid, out, split=split, seed=seed, name=name,
                           metrics=metrics,
                           quiet=quiet, frontend_checkpoint=frontend_checkpoint,
                           device=device, lip_rows=lip_rows, random_init=random_init,
                           overwrite=overwrite)
    plot = ""
    if len(frame[frame["kind"] != "clean"]):
        plot = f" and {robustness_plot(frame, out / 'robustness.png')}"
    click.echo(f"wrote {out / 'robustness.csv'}{plot}", err=True)
    if not quiet:
        columns = ["model", "condition", "si_snr_i", "drop"]
        shown = frame[columns + (["leak_db"] if frame["leak_db"].notna().any() else [])]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
