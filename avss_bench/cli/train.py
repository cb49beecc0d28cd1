"""`avss-bench train`: train a separator from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import click

from avss_bench.cli._common import quiet_option


@click.command(context_settings={"show_default": True})
@click.option("--recipe", "-r", required=True,
              help="Recipe YAML path, or a bundled name such as lrs2/iianet or demo/tiny-av.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="Prepared corpus folder (holds manifests/); overrides data.root.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/run"),
              help="Run folder: config.yaml, log.csv, last.pt, best.pt.")
@click.option("--resume", is_flag=True,
              help="Continue from OUT/last.pt exactly (an error when there is none, or when it "
                   "was written with another model or setting).")
@click.option("--resume-or-start", is_flag=True,
              help="Continue from OUT/last.pt if there is one, else start in an empty OUT "
                   "(for jobs that may be preempted and requeued).")
@click.option("--overwrite", is_flag=True,
              help="Train into a non-empty OUT without --resume (its files are replaced).")
@click.option("--random-frontend", is_flag=True,
              help="Train against a randomly initialised LRW lip front-end on purpose "
                   "(model.frontend_checkpoint=random); never for real results.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present).")
@quiet_option
@click.argument("overrides", nargs=-1)
def command(recipe: str, data: Path | None, out: Path, resume: bool, resume_or_start: bool,
            overwrite: bool, random_frontend: bool, device: str | None, quiet: bool,
            overrides: tuple[str, ...]) -> None:
    """Train a separator as a recipe says, with optional KEY=VALUE overrides.

    Recipes with the LRW lip front-end (IIANet, CTCNet, RTFS-Net) need its checkpoint file
    (named in the recipe; looked up as given, then in ~/.cache/avss-bench/frontends/), or
    --random-frontend. Checkpoints are written atomically every epoch (OUT/last.pt: model,
    optimizer, scheduler, scaler, RNG states, data position) and whenever validation SI-SNR
    improves (OUT/best.pt, loadable with `evaluate --checkpoint`). For several GPUs or
    machines launch with torchrun:

    \b
      avss-bench train --recipe recipes/lrs2/iianet.yaml --data data/lrs2 --out runs/iianet
      avss-bench train -r demo/tiny-av --data demo/prepared optim.lr=5e-4 optim.max_epochs=3
      torchrun --nproc_per_node 8 -m avss_bench.cli train -r lrs2/iianet --data data/lrs2
    """
    from avss_bench.core.errors import AvssError
    from avss_bench.train.config import load_config
    from avss_bench.train.loop import train

    if (resume or resume_or_start) and overwrite:
        raise AvssError("--resume and --overwrite exclude each other", out)
    if resume and resume_or_start:
        raise AvssError("give --resume or --resume-or-start, not both", out)
    extra = list(overrides) + ([f"data.root={data}"] if data is not None else [])
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
    summary = train(config, out, resume=resume, quiet=quiet, device=device)
    if not quiet:
        click.echo(json.dumps(summary, indent=2))
