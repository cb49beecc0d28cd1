"""`avss-bench profile`: Params, MACs, latency and peak memory of a separator."""

from __future__ import annotations

import json
from pathlib import Path

import click

from avss_bench.cli._common import checkpoint_option, model_option
from avss_bench.core.numbers import Bounds, Number, number_option

#: Input lengths: at least one lip frame at 25 fps (some models need more), at most 10 minutes.
SECONDS = Bounds(0.04, 600.0)


@click.command()
@model_option
@number_option("--seconds", bounds=SECONDS, default=2.0, show_default=True,
               help="Input length in seconds (audio at 16 kHz, lips at 25 fps). Papers quote "
                    "MACs per 1 s or per 2 s: the model card's note says which.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--runs", type=click.IntRange(0, 10000), default=5, show_default=True,
              help="Timed forward passes (median reported); 0 skips latency and memory.")
@click.option("--warmup", type=click.IntRange(0, 10000), default=1, show_default=True,
              help="Untimed forward passes before timing.")
@click.option("--threads", type=Number(Bounds(1, 1024, integer=True)), default=None,
              help="CPU threads for torch (default: torch's default).")
@checkpoint_option
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (exact integer params, MACs in G, latency, ...).")
def command(model: str | None, seconds: float, device: str, runs: int, warmup: int,
            threads: int | None, checkpoint: Path | None, as_json: bool) -> None:
    """Params (M), MACs (G), latency and peak memory of a separator, batch 1.

    Params and MACs are reported for the separator alone (what the papers' columns count)
    and for the lip front-end separately. MACs are torch.utils.flop_counter's conv/matmul
    multiply-accumulates (FLOPs / 2) for the given input length. The model's card adds how its
    papers count them. With --checkpoint the model is built from the config stored with the
    weights (what was trained), and the output says which config was measured.

    \b
    Examples:
      avss-bench profile --model iianet --seconds 1
      avss-bench profile --model ctcnet --seconds 2 --runs 3
      avss-bench profile --model iianet-fast --device cuda --json
      avss-bench profile -c runs/mine/best.pt --json > results/mine/profile.json
    """
    from avss_bench.evaluate.profile import profile_separator

    result = profile_separator(model, seconds=seconds, device=device, runs=runs, warmup=warmup,
                               threads=threads, checkpoint=checkpoint)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(result.format_human())
