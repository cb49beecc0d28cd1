"""`avss-bench demo`: the whole pipeline on the embedded demo corpus."""

from __future__ import annotations

from pathlib import Path

import click

from avss_bench.cli._common import quiet_option


@click.command(context_settings={"show_default": True})
@click.option("--workdir", "-w", type=click.Path(file_okay=False, path_type=Path),
              default=Path("avss-demo"), help="Where the corpus, checkpoints and results go.")
@click.option("--seed", default=0, type=click.IntRange(0),
              help="Seed of the generated corpus and of training.")
@click.option("--landmarker", type=click.Path(dir_okay=False, path_type=Path),
              help="MediaPipe face_landmarker.task (else $AVSS_BENCH_LANDMARKER, the cache, "
                   "or the model bundled with avss-bench).")
@click.option("--recipe", default="demo/iianet-demo",
              help="Demo training recipe: demo/iianet-demo (IIANet blocks at demo size) or "
                   "demo/tiny-av (a smaller conv separator).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps of training [default: 700, 7 epochs].")
@click.option("--mixtures", type=click.IntRange(min=10), default=500,
              help="Mixtures generated (80 % train, 8 % valid, 12 % test).")
@click.option("--force", is_flag=True,
              help="Start over: delete WORKDIR first (only if it is a demo work folder).")
@quiet_option
def command(workdir: Path, seed: int, landmarker: Path | None, recipe: str,
            steps: int | None, mixtures: int, force: bool, quiet: bool) -> None:
    """Run every stage on a corpus the package generates itself (no download, CPU only).

    Generates talking-face clips with speech-like audio in the LRS2 layout, prepares them like
    a real corpus (mixtures, MediaPipe mouth ROIs, manifests), trains a demo-size IIANet
    (iianet-demo) for a fixed number of steps on 2 CPU threads, evaluates it and the
    unprocessed mixture on the test split, profiles it, runs a short robustness grid (30 %
    of frames lost, video 3 frames late, 12.5 fps) and prints both tables. The same
    seed gives the same checkpoint and table (but latency) on any machine. Rerunning resumes
    (also mid-training); other options in the same WORKDIR are refused unless --force.

    \b
      avss-bench demo
      avss-bench demo --workdir /tmp/demo --steps 20 --mixtures 40
      avss-bench demo --workdir /tmp/demo --seed 1 --force
    Outputs: WORKDIR/checkpoints/iianet-demo.pt, WORKDIR/results/<model>/{results.csv,summary.json},
    WORKDIR/results/leaderboard.md, WORKDIR/results/robustness/{robustness.csv,robustness.png},
    WORKDIR/results/robustness.md, WORKDIR/demo_report.json (stage wall times).
    """
    from avss_bench.demo.run import run_demo

    report = run_demo(workdir, seed=seed, landmarker=landmarker, force=force, recipe=recipe,
                      steps=steps, mixtures=mixtures, quiet=quiet, echo=click.echo)
    click.echo("")
    click.echo(report["table"])
    click.echo("")
    click.echo("Robustness (SI-SNRi of the demo model when the video is damaged; "
               "avss-bench robustness):")
    click.echo("")
    click.echo(report["robustness"])
    click.echo("")
    times = ", ".join(f"{k} {v:.0f} s" for k, v in report["timings_s"].items())
    click.echo(f"stage wall times: {times}")
