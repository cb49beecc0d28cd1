"""`avss-bench score`: score separated audio, for a few files or a whole manifest split.

Files:  avss-bench score --mixture m.wav --reference s1.wav s2.wav --estimate e1.wav e2.wav
Split:  avss-bench score --manifest DIR/tt.csv --estimates EST_DIR --out RESULTS_DIR --jobs 2
        (or --executor dask-local:N | dask://HOST:PORT | slurm[:k=v,...], as for prepare)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from avss_bench.cli._common import metrics_option, quiet_option
from avss_bench.core.errors import AvssError
from avss_bench.metrics.registry import metric_registry

GREEDY = ("--reference", "--estimate")


class _ScoreCommand(click.Command):
    """Lets ``--reference a.wav b.wav`` mean ``--reference a.wav --reference b.wav``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        current = None
        for arg in args:
            if arg in GREEDY:
                current = arg
                rewritten.append(arg)
                continue
            if arg.startswith("-"):
                current = None
            elif current is not None and rewritten[-1] != current:
                rewritten.append(current)
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _load_files(mixture: str, references: tuple[str, ...], estimates: tuple[str, ...],
                trim: bool) -> tuple[Any, Any, Any, int]:
    import numpy as np

    from avss_bench.io.audio import read_audio

    mix, rate = read_audio(mixture)
    signals = []
    for path in references + estimates:
        x, r = read_audio(path)
        if r != rate:
            raise AvssError(f"sample rate {r} Hz differs from the mixture's {rate} Hz", path)
        signals.append(x)
    if not trim:
        for path, x in zip(references + estimates, signals, strict=True):
            if x.size != mix.size:
                raise AvssError(f"length {x.size} samples differs from the mixture's {mix.size}; "
                                "pass --trim to cut every signal to the shortest", path)
    n = min([mix.size] + [x.size for x in signals])
    refs = np.stack([x[:n] for x in signals[: len(references)]])
    ests = np.stack([x[:n] for x in signals[len(references):]])
    return mix[:n], refs, ests, rate


def _table(result: dict[str, Any], keys: list[str]) -> str:
    columns = [metric_registry.column(k) for k in keys]
    head = ["target", "estimate"] + [c.label for c in columns]
    rows = []
    notes = []
    for t in result["targets"]:
        row = [Path(t["reference"]).name, Path(t["estimate"]).name]
        for k, column in zip(keys, columns, strict=True):
            v = t[k]
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                row.append("n/a")
                notes.append(f"{Path(t['reference']).name} {column.label}: "
                             f"{t.get(k + '_error')}")
            else:
                row.append(f"{v:.{column.digits}f}")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [head] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(_units(columns) + f" at {result['sample_rate']} Hz")
    lines += [f"  failed: {n}" for n in notes]
    return "\n".join(lines)


@click.command(cls=_ScoreCommand)
@click.option("--mixture", type=click.Path(dir_okay=False), help="The unprocessed mixture WAV.")
@click.option("--reference", "references", multiple=True, type=click.Path(dir_okay=False),
              help="Clean reference WAV(s), one per target: --reference s1.wav s2.wav.")
@click.option("--estimate", "estimates", multiple=True, type=click.Path(dir_okay=False),
              help="Estimated WAV(s): --estimate e1.wav e2.wav (matched by SI-SNR).")
@click.option("--manifest", type=click.Path(dir_okay=False),
              help="Score a whole split: the split's manifest CSV.")
@click.option("--estimates", "estimates_dir", type=click.Path(file_okay=False),
              help="With --manifest: folder holding <mixture_id>/s{k}.wav for every target "
                   "k the manifest gives (s1.wav, s2.wav; s3.wav, ... for more speakers).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False),
              help="With --manifest: where results.csv and summary.json go.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1),
              help="Worker processes for --manifest with --executor local (one thread each).")
@click.option("--executor", default="local", show_default=True,
              metavar="local|dask-local:N|dask://HOST:PORT|slurm[:k=v,...]",
              help="With --manifest: where the chunks of targets are scored (as for prepare: "
                   "this machine's process pool, a local Dask cluster of N worker processes, "
                   "an existing Dask scheduler, or Slurm jobs via dask-jobqueue). Outputs are "
                   "identical.")
@metrics_option(note=" DNSMOS is reference-free (SIG/BAK/OVRL, see README).")
@click.option("--permute/--no-permute", default=None,
              help="Match estimates to references by SI-SNR [files: on; split: off, since "
                   "EST_DIR/<id>/s1.wav is the estimate of target s1].")
@click.option("--trim", is_flag=True,
              help="Cut every signal to the shortest instead of failing on a length mismatch.")
@click.option("--baseline-cache", type=click.Path(file_okay=False), default=None,
              help="With --manifest: folder of cached mixture baselines [OUT/../.baselines]; "
                   "keyed by the mixture and reference files (path, size, mtime).")
@click.option("--overwrite", is_flag=True,
              help="With --manifest: start over in a folder holding another scoring run's "
                   "results (removes them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@quiet_option
def command(mixture, references, estimates, manifest, estimates_dir, out_dir, jobs, executor,
            metrics, permute, trim, baseline_cache, overwrite, as_json, quiet) -> None:
    """Score separated audio: SI-SNR(i), SDR(i) (BSS-Eval), PESQ, STOI, ESTOI, DNSMOS.

    \b
    Files (one mixture):
      avss-bench score --mixture m.wav --reference s1.wav s2.wav --estimate e1.wav e2.wav
    Split (a manifest; resumable, mixture baselines cached):
      avss-bench score --manifest DIR/tt.csv --estimates EST_DIR --out RESULTS_DIR --jobs 2

    Lengths must match (else an error naming the file; --trim cuts to the shortest). A value
    that cannot be computed (silent or non-finite signal, too short, unsupported rate) is
    reported as n/a / null with a reason, and a split summary counts the failures.
    """
    if manifest:
        if mixture or references or estimates:
            raise click.UsageError("--manifest cannot be combined with --mixture/--reference/"
                                   "--estimate")
        if not estimates_dir or not out_dir:
            raise click.UsageError("--manifest needs --estimates EST_DIR and --out RESULTS_DIR")
        from avss_bench.core.executor import check_executor_spec

        check_executor_spec(executor)  # before the manifest and estimates are read
        _score_split(manifest, estimates_dir, out_dir, jobs, metrics, bool(permute), trim,
                     baseline_cache, as_json, quiet, executor, overwrite)
        return
    if not (mixture and references and estimates):
        raise click.UsageError("give --mixture, --reference and --estimate (or --manifest)")
    if len(estimates) < len(references):
        raise click.UsageError(f"{len(estimates)} estimate(s) for {len(references)} reference(s)")
    from avss_bench.metrics import score_utterance

    mix, refs, ests, rate = _load_files(mixture, references, estimates, trim)
    result = score_utterance(ests, refs, mix, rate, metrics=metrics,
                             permute=True if permute is None else permute)
    for j, target in enumerate(result["targets"]):
        result["targets"][j] = {"reference": references[j],
                                "estimate": estimates[result["permutation"][j]]} | {
            k: _nan_to_none(v) for k, v in target.items()}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_table(result, metric_registry.keys(metrics)))


def _units(columns: list[Any]) -> str:
    """``(dB: SI-SNR, SI-SNRi; MOS-LQO: PESQ)``: each unit with the columns measured in it."""
    units: dict[str, list[str]] = {}
    for column in columns:
        if column.unit:
            units.setdefault(column.unit, []).append(column.label)
    return "(" + "; ".join(f"{unit}: {', '.join(labels)}" for unit, labels in units.items()) + ")"


def _score_split(manifest, estimates_dir, out_dir, jobs, metrics, permute, trim, baseline_cache,
                 as_json, quiet, executor="local", overwrite=False) -> None:
    from avss_bench.evaluate.scoring import score_split

    summary = score_split(manifest, estimates_dir, out_dir, jobs=jobs, metrics=metrics,
                          trim=trim, quiet=quiet, permute=permute,
                          baseline_cache=baseline_cache, executor=executor, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    lines = [f"{'metric':11}  {'mean':>8}  {'95% CI':>19}  {'n':>6}  {'failed':>6}"]
    for key, s in summary["metrics"].items():
        digits = metric_registry.column(key).digits
        mean = "n/a" if s["mean"] is None else f"{s['mean']:.{digits}f}"
        lo, hi = s["ci95"]
        ci = "n/a" if lo is None else f"[{lo:.{digits}f}, {hi:.{digits}f}]"
        lines.append(f"{metric_registry.label(key):11}  {mean:>8}  {ci:>19}  {s['n']:>6}  "
                     f"{s['n_failed']:>6}")
    lines.append(f"{summary['num_targets']} targets of {summary['num_mixtures']} mixtures -> "
                 f"{Path(out_dir) / 'results.csv'}, summary.json")
    click.echo(lines[-1] if quiet else "\n".join(lines))  # quiet: where the results went
