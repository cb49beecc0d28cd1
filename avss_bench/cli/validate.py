"""`avss-bench validate OUT`: re-check a prepared corpus; exits 1 with a list of problems."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from avss_bench.cli._common import quiet_option

MAX_SHOWN = 100


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--splits", default=None, help="Comma-separated subset of tr,cv,tt "
                                              "(default: every manifest present).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1),
              help="Worker processes.")
@click.option("--no-lips", is_flag=True,
              help="Accept empty lip columns (a corpus prepared with --skip-lips; also "
                   "detected from report.json).")
@click.option("--no-gains", is_flag=True,
              help="Skip the P.56 level-difference check (the slowest check).")
@click.option("--all-problems", is_flag=True, help=f"Print every problem, not the first "
                                                   f"{MAX_SHOWN}.")
@quiet_option
def command(out: Path, splits: str | None, jobs: int, no_lips: bool, no_gains: bool,
            all_problems: bool, quiet: bool) -> None:
    """Re-check a prepared corpus from its manifests.

    For every mixture: all paths exist; WAVs are 16 kHz mono int16 with num_samples samples;
    mix == s1 + s2 within 1 LSB; the peak is 0.9 full scale (29491 +-1); the P.56 level
    difference of the written s1 and s2 equals the list's gain difference within 0.01 dB
    (mixtures 'min' mode truncated are exempt); lip files are uint8 [F, 96, 96] and pass the
    loader's length rule (manifests/README.md): F >= round(num_samples * 25 / 16000) - 1 (a
    'min'-truncated source's longer lips are cut when loaded) and F within 1 frame of its own
    source's frames. Data sanity: no mixture of two copies of one recording (same utterance,
    or waveform correlation >= 0.9 at any lag) or with a silent source (RMS < -60 dBFS), no
    empty split, each split's test-set record matching its manifest; duplicated mixtures and
    speakers in two splits are counted warnings. Exits 1 and lists the problems when any is
    found.
    """
    from avss_bench.core.errors import AvssError
    from avss_bench.prepare.validate import validate_prepared

    wanted = [s.strip() for s in splits.split(",")] if splits else None
    for split in wanted or []:
        if split not in ("tr", "cv", "tt"):
            raise click.BadParameter(f"unknown split '{split}' (use tr, cv, tt)",
                                     param_hint="--splits")
    result = validate_prepared(out, splits=wanted, jobs=jobs,
                               require_lips=False if no_lips else None,
                               check_gains=not no_gains, quiet=quiet)
    checked = ", ".join(f"{split} {n}" for split, n in result.rows.items()) or "none"
    if not result.ok and not result.rows:  # nothing could be checked: a one-line error
        raise AvssError(f"nothing to validate: {result.problems[0]}")
    for warning in result.warnings[:MAX_SHOWN]:
        click.echo(f"warning: {warning}", err=True)
    warned = f"; {len(result.warnings)} warning(s)" if result.warnings else ""
    if result.ok:
        click.echo(f"{out}: OK ({checked} mixtures checked{warned})")
        return
    shown = result.problems if all_problems else result.problems[:MAX_SHOWN]
    for problem in shown:
        click.echo(problem, err=True)
    more = len(result.problems) - len(shown)
    if more:
        click.echo(f"... and {more} more (--all-problems)", err=True)
    click.echo(f"{out}: {len(result.problems)} problem(s) ({checked} mixtures checked{warned})",
               err=True)
    sys.exit(1)
