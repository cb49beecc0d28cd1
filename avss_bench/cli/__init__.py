"""The `avss-bench` command line: a click group whose verbs live one per module.

Each verb is the module `avss_bench.cli.<verb>` exposing a click command named `command`.
Modules are imported only when their verb runs, so `avss-bench --help` stays fast and a
heavy dependency (torch, mediapipe) is paid for only by the verbs that need it.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from avss_bench import __version__
from avss_bench.core.constants import DEMO_THREADS
from avss_bench.core.errors import AvssError
from avss_bench.core.runtime import configure_process

VERBS: dict[str, str] = {
    "demo": "Run every stage end to end on the embedded demo corpus.",
    "prepare": "Turn a raw corpus (LRS2, LRS3, VoxCeleb2, AVSpeech) into mixtures with lip ROIs.",
    "validate": "Re-check a prepared corpus: paths, lengths, rates, lip frames, mix == s1 + s2.",
    "score": "Score separated audio: SI-SNRi, SDRi, PESQ, STOI, DNSMOS; files or a split.",
    "train": "Train a separator from a recipe.",
    "evaluate": "Separate and score every target of a prepared split.",
    "robustness": "Evaluate a separator under damaged video and harder corpora.",
    "profile": "Params, MACs and latency of a separator.",
    "table": "Build the leaderboard table from evaluation and profile results.",
    "report": "Write the results as a static site: leaderboard, plots, audio examples.",
    "separate": "Separate each visible speaker's voice in a video.",
    "models": "List every registered separator.",
}


class LazyVerbs(click.Group):
    """A click group that imports a verb's module only when that verb is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in VERBS:
            return None
        # before the verb's module (or anything it imports) loads torch
        configure_process(DEMO_THREADS if name == "demo" else None)
        module = importlib.import_module(f"avss_bench.cli.{name}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static one-line summaries so `--help` does not import every verb.
        with formatter.section("Commands"):
            formatter.write_dl(list(VERBS.items()))

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AvssError as err:
            fail(str(err))
        except OSError as err:
            message = filesystem_message(err)
            if message is None:
                raise  # not the user's file system: our bug, keep the traceback
            fail(message)
        except Exception as err:
            from avss_bench.metrics.perceptual import MetricError

            if isinstance(err, MetricError):
                fail(f"metric: {err}")
            raise


#: OS errors a user causes with a path (permissions, a full or read-only disk, a missing or
#: wrong-type folder); anything else keeps its traceback.
USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
               errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG,
               errno.ELOOP}


def filesystem_message(err: OSError) -> str | None:
    """``<path>: <problem>`` for a file-system error the user can fix, else ``None``."""
    if err.errno not in USER_ERRNOS or not (err.filename or err.filename2):
        return None
    path = err.filename if err.filename is not None else err.filename2
    reason = (err.strerror or type(err).__name__).lower()
    return f"{path}: cannot write or read here ({reason})"


def fail(message: str) -> None:
    """Print the one-line user error and exit with status 1."""
    click.echo(f"avss-bench: error: {' '.join(message.split())}", err=True)
    sys.exit(1)


@click.group(cls=LazyVerbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avss-bench")
def main() -> None:
    """avss-bench: audio-visual speech separation benchmarks.

    Prepare LRS2/LRS3/VoxCeleb2/AVSpeech mixtures (2-4 speakers, noise, reverberation) with lip
    ROIs; score separators (SI-SNRi, SDRi, PESQ, STOI, DNSMOS); train and evaluate IIANet,
    IIANet-fast, CTCNet, RTFS-Net and Dolphin (or your own separator); regenerate the
    leaderboard with Params/MACs/latency; test robustness; separate the speakers of a video.

    Start with `avss-bench demo`, which runs every stage on a corpus it generates itself.
    """
