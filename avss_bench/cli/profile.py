"""`avss-bench profile`: Params, MACs, latency and peak memory of a separator."""

from __future__ import annotations

import json

import click

from avss_bench.core.numbers import Bounds, Number, number_option

#: Input lengths: at least one lip frame at 25 fps (RTFS-Net needs 0.25 s), at most 10 minutes.
SECONDS = Bounds(0.04, 600.0)


@click.command()
@click.option("--model", "name", default=None,
              help="Registered separator name (see `avss-bench models`) or package.module:Class "
                   "[default: the separator --checkpoint records].")
@number_option("--seconds", bounds=SECONDS, default=2.0, show_default=True,
               help="Input length in seconds (audio at 16 kHz, lips at 25 fps). The paper "
                    "quotes IIANet per 1 s and CTCNet per 2 s.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--runs", type=click.IntRange(0, 10000), default=5, show_default=True,
              help="Timed forward passes (median reported); 0 skips latency and memory.")
@click.option("--warmup", type=click.IntRange(0, 10000), default=1, show_default=True,
              help="Untimed forward passes before timing.")
@click.option("--threads", type=Number(Bounds(1, 1024, integer=True)), default=None,
              help="CPU threads for torch (default: torch's default).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Weights to load; the model is built from the config stored with them "
                   "(what was trained), and the output says which config was measured.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (exact integer params, MACs in G, latency, ...).")
def command(name: str | None, seconds: float, device: str, runs: int, warmup: int,
            threads: int | None, checkpoint: str | None, as_json: bool) -> None:
    """Params (M), MACs (G), latency and peak memory of a separator, batch 1.

    Params and MACs are reported for the separator alone (what the papers' columns count)
    and for the lip front-end separately. MACs are torch.utils.flop_counter's conv/matmul
    multiply-accumulates (FLOPs / 2) for the given input length.

    \b
    Examples:
      avss-bench profile --model iianet --seconds 1
      avss-bench profile --model ctcnet --seconds 2 --runs 3
      avss-bench profile --model iianet-fast --device cuda --json
      avss-bench profile --checkpoint runs/mine/best.pt --json > results/mine/profile.json
    """
    from avss_bench.evaluate.profile import profile_separator

    result = profile_separator(name, seconds=seconds, device=device, runs=runs, warmup=warmup,
                               threads=threads, checkpoint=checkpoint)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(result.format_human())
