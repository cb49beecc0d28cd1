"""`avss-bench train`: train a separator from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import click

from avss_bench.cli._common import quiet_option


@click.command(context_settings={"show_default": True})
@click.option("--recipe", "--config", "-r", default=None,
              help="Run config YAML (your own file, or a bundled recipe such as lrs2/iianet or "
                   "demo/tiny-av); without one, the defaults of every key (`--model` needed).")
@click.option("--model", "-m", default=None,
              help="Separator to train: a registered name (avss-bench models) or "
                   "package.module:Class; sets model.name (the config's model.config must fit "
                   "it: override with model.config={...}).")
@click.option("--data", "-d", type=click.Path(file_okay=False, path_type=Path),
              help="Prepared corpus folder (holds manifests/); overrides data.root.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/run"), help="Run folder: config.yaml, log.csv, last.pt, best.pt.")
@click.option("--resume", is_flag=True,
              help="Continue from OUT/last.pt exactly (an error when there is none, or when it "
                   "was written with another model or setting).")
@click.option("--resume-or-start", is_flag=True,
              help="Continue from OUT/last.pt if there is one, else start in an empty OUT "
                   "(for jobs that may be preempted and requeued).")
@click.option("--overwrite", is_flag=True,
              help="Train into a non-empty OUT without --resume (its files are replaced).")
@click.option("--random-frontend", is_flag=True,
              help="Train against a randomly initialised visual encoder on purpose "
                   "(model.frontend_checkpoint=random); never for real results.")
@click.option("--cache-lip-embeddings", is_flag=True,
              help="Compute each item's lip embedding once and reuse it every epoch (a frozen "
                   "visual encoder and data.lip_augment=false only; same numbers, faster).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present).")
@quiet_option
@click.argument("overrides", nargs=-1)
def command(recipe: str | None, model: str | None, data: Path | None, out: Path, resume: bool,
            resume_or_start: bool, overwrite: bool, random_frontend: bool,
            cache_lip_embeddings: bool, device: str | None, quiet: bool,
            overrides: tuple[str, ...]) -> None:
    """Train a separator as a recipe (or your own config file) says, with KEY=VALUE overrides.

    Models whose card says their visual encoder needs trained weights (the LRW lip front-end,
    a pretrained video encoder) need that file (model.frontend_checkpoint, named in the
    bundled recipes; looked up as given, then in ~/.cache/avss-bench/frontends/), or
    --random-frontend. Checkpoints are written atomically every epoch (OUT/last.pt: model,
    optimizer, scheduler, scaler, RNG states, data position) and whenever validation SI-SNR
    improves (OUT/best.pt, loadable with `evaluate --checkpoint`). For several GPUs or
    machines launch with torchrun:

    \b
      avss-bench train --recipe recipes/lrs2/iianet.yaml --data data/lrs2 --out runs/iianet
      avss-bench train -r demo/tiny-av -d demo/prepared optim.lr=5e-4 optim.max_epochs=3
      avss-bench train -m my_pkg.model:MyNet -d demo/prepared -o runs/mine optim.max_epochs=3
      torchrun --nproc_per_node 8 -m avss_bench.cli train -r lrs2/iianet --data data/lrs2
    """
    from avss_bench.core.errors import AvssError
    from avss_bench.train.config import load_config
    from avss_bench.train.loop import train

    if (resume or resume_or_start) and overwrite:
        raise AvssError("--resume and --overwrite exclude each other", out)
    if resume and resume_or_start:
        raise AvssError("give --resume or --resume-or-start, not both", out)
    if recipe is None and model is None:
        raise click.UsageError("name what to train: --model NAME (with the default settings, "
                               "changed by KEY=VALUE) or --recipe FILE")
    extra = [f"model.name={model}"] if model is not None else []
    extra += list(overrides) + ([f"data.root={data}"] if data is not None else [])
    extra += ["model.frontend_checkpoint=random"] if random_frontend else []
    config = load_config(recipe, extra)  # the whole config is checked before any file changes
    has_state = (out / "last.pt").is_file()
    if resume and not has_state:
        raise AvssError("nothing to resume: no last.pt here; drop --resume to start a run, or "
                        "pass --resume-or-start to resume when there is one", out)
    resume = has_state and (resume or resume_or_start)
    if not resume and not overwrite and out.is_dir() and any(out.iterdir()):
        raise AvssError("run folder is not empty: pass --resume to continue it or --overwrite "
                        "to start again", out)
    if overwrite:
        for name in ("last.pt", "best.pt", "log.csv", "config.yaml"):
            (out / name).unlink(missing_ok=True)
    summary = train(config, out, resume=resume, quiet=quiet, device=device,
                    cache_lip_embeddings=cache_lip_embeddings)
    if quiet:  # one line: where the results went
        click.echo(f"trained {config.model.name} into {out} ({summary['epochs']} epochs, "
                   f"{summary['steps']} steps): {summary['best_checkpoint']}")
    else:
        click.echo(json.dumps(summary, indent=2))
