"""`avss-bench evaluate`: separate and score every target of a prepared split."""

from __future__ import annotations

import json
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
@click.option("--data", "-d", required=True, type=click.Path(path_type=Path),
              help="Prepared corpus folder (with manifests/) or a manifest CSV.")
@click.option("--split", default="tt", help="tr, cv or tt (train/valid/test accepted).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/eval"), help="Results folder: results.csv, summary.json.")
@click.option("--save-audio", default=0, type=click.IntRange(0),
              help="Keep N estimates as wavs, chosen from all scored targets (best, median, "
                   "worst SI-SNRi, then evenly spaced ranks; examples/examples.json says "
                   "which).")
@metrics_option()
@click.option("--name", default=None,
              help="Display name of this row in tables (default: the model's name).")
@lip_rows_option
@random_init_option
@click.option("--overwrite", is_flag=True,
              help="Start over in a folder holding another evaluation (removes its results, "
                   "examples and profile.json).")
@click.option("--visual-condition", default=None,
              help="Damage the lips (robustness): zero:K / freeze:K (K % of frames black or "
                   "frozen), offset:K (frames, + delays the video), lowres:P (P x P pixels), "
                   "fps:R (held frames at R fps). Seeded; recorded in summary.json.")
@click.option("--visual-seed", type=click.IntRange(0), default=0,
              help="Seed of the visual condition's random draws.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as JSON (as written to summary.json) instead of the "
                   "short result table.")
@device_option
@quiet_option
def command(model: str | None, checkpoint: Path | None, frontend_checkpoint: Path | None,
            data: Path, split: str, out: Path, save_audio: int, metrics: tuple[str, ...],
            name: str | None, lip_rows: int, random_init: bool,
            overwrite: bool, visual_condition: str | None, visual_seed: int,
            as_json: bool, device: str | None, quiet: bool) -> None:
    """Separate every (mixture, target speaker) of a split at full length and score it.

    Writes OUT/results.csv (one row per target) and OUT/summary.json (mean, 95% CI, failures,
    the test set measured on, model, checkpoint checksum, options, versions, commit), and
    prints the test set and a short result table (--json: the summary). Interrupted runs
    resume, but only under the same stamp (model, checkpoint sha256, options, data files):
    another evaluation into the same folder stops with the mismatch (--overwrite starts over).
    Under torchrun the split is sharded across ranks without padding. --save-audio N keeps N
    estimates chosen after scoring from all targets: the best, median and worst SI-SNRi first.

    \b
      avss-bench evaluate --model iianet --checkpoint ckpt.pt --data data/lrs2 --split tt
      avss-bench evaluate --model mixture --data data/lrs2 --out results/mixture
      avss-bench evaluate -c runs/mine/best.pt -d data/lrs2 --name "MyNet (ours)"
      avss-bench evaluate -m iianet -c IIANet_LRS2.zip -d data/lrs2 --lip-rows 50
      avss-bench evaluate -c best.pt -d data/lrs2 --visual-condition zero:30 -o res/zero30
    """
    from avss_bench.evaluate.results import jsonable
    from avss_bench.evaluate.run import evaluate

    summary = evaluate(model, checkpoint, data, split=split, out_dir=out, save_audio=save_audio,
                       metrics=metrics,
                       frontend_checkpoint=frontend_checkpoint, device=device, quiet=quiet,
                       lip_rows=lip_rows, random_init=random_init,
                       name=name, overwrite=overwrite, visual_condition=visual_condition,
                       visual_seed=visual_seed)
    if summary and as_json:
        click.echo(json.dumps(jsonable(summary), indent=2, default=str))
    elif summary and not quiet:
        from avss_bench.evaluate.leaderboard import summary_text

        click.echo(summary_text(summary))
    if summary and not as_json:  # also under --quiet: where the results went
        click.echo(f"wrote {out / 'results.csv'} and {out / 'summary.json'}")
