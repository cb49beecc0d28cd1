"""`avss-bench evaluate`: separate and score every target of a prepared split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from avss_bench.cli._common import quiet_option


@click.command(context_settings={"show_default": True})
@click.option("--model", "-m", required=True,
              help="Registered separator name (avss-bench models) or package.module:Class.")
@click.option("--checkpoint", "-c", type=click.Path(dir_okay=False, path_type=Path),
              help="Weights: an avss-bench checkpoint, or an official state dict / release zip.")
@click.option("--frontend-checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Lip front-end weights (LRW lip-reading checkpoint), if separate.")
@click.option("--data", "-d", required=True, type=click.Path(path_type=Path),
              help="Prepared corpus folder (with manifests/) or a manifest CSV.")
@click.option("--split", default="tt", help="tr, cv or tt (train/valid/test accepted).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/eval"), help="Results folder: results.csv, summary.json.")
@click.option("--save-audio", default=0, help="Keep the first N estimates as wavs.")
@click.option("--metrics", default="si_snr,sdr,pesq,stoi", help="Comma-separated metrics.")
@click.option("--dataset-name", default=None,
              help="Dataset label in tables (default: the prepared corpus, e.g. LRS2-2Mix).")
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if present).")
@quiet_option
def command(model: str, checkpoint: Path | None, frontend_checkpoint: Path | None, data: Path,
            split: str, out: Path, save_audio: int, metrics: str, dataset_name: str | None,
            device: str | None, quiet: bool) -> None:
    """Separate every (mixture, target speaker) of a split at full length and score it.

    Writes OUT/results.csv (one row per target) and OUT/summary.json (mean, 95% CI, failures,
    model, checkpoint checksum, versions, commit). Interrupted runs resume; under torchrun the
    split is sharded across ranks without padding.

    \b
      avss-bench evaluate --model iianet --checkpoint ckpt.pt --data data/lrs2 --split tt
      avss-bench evaluate --model mixture --data data/lrs2 --out results/mixture
      avss-bench evaluate --model my_pkg.model:MySeparator -c mine.pt -d data/lrs2
    """
    from avss_bench.evaluate.run import evaluate

    summary = evaluate(model, checkpoint, data, split=split, out_dir=out, save_audio=save_audio,
                       metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
                       frontend_checkpoint=frontend_checkpoint, device=device, quiet=quiet,
                       dataset=dataset_name)
    if summary and not quiet:
        click.echo(json.dumps(summary["metrics"], indent=2))
