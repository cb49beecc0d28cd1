"""The CLI skeleton: every verb has --help, unlanded verbs exit 2 with one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from avss_bench.cli import VERBS, main


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb: str) -> None:
    result = CliRunner().invoke(main, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_top_level_help_lists_verbs() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for verb in VERBS:
        assert verb in result.output


SHORT = {"--model": "-m", "--checkpoint": "-c", "--data": "-d", "--out": "-o", "--quiet": "-q"}


def _commands():
    import click

    for verb in sorted(VERBS):
        command = main.get_command(click.Context(main), verb)
        if isinstance(command, click.Group):  # prepare: one subcommand per corpus
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                yield f"{verb} {name}", command.get_command(ctx, name)
        else:
            yield verb, command


def test_every_verb_spells_shared_options_the_same_way() -> None:
    """-m, -c, -d, -o and -q mean the same wherever the long option exists."""
    wrong = []
    for verb, command in _commands():
        for param in command.params:
            for long, short in SHORT.items():
                if long in param.opts and short not in param.opts:
                    wrong.append(f"{verb} {long} lacks {short}")
    assert not wrong, wrong


@pytest.mark.slow
def test_quiet_leaves_one_line_saying_where_the_results_went(tmp_path) -> None:
    """train, evaluate and separate with -q print one line (nothing from third-party code,
    native log lines included: run as the user runs them, in a process of their own)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from shared_data import LANDMARKER, VIDEOS
    from synthetic import make_prepared_corpus

    corpus = make_prepared_corpus(tmp_path / "corpus", {"tr": 2, "cv": 1, "tt": 1}, seconds=0.4)
    cli = [sys.executable, "-m", "avss_bench.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {
        "train": ["train", "-m", "tiny-av", "-d", str(corpus), "-o", str(tmp_path / "run"),
                  "-q", "data.segment_s=0.4", "data.batch_size=2", "optim.max_epochs=1"],
        "evaluate": ["evaluate", "-c", str(tmp_path / "run/best.pt"), "-d", str(corpus),
                     "-o", str(tmp_path / "res"), "-q", "--metrics", "si_snr"],
        "separate": ["separate", str(VIDEOS / "sadtalker_WDA_KatieHill_000.mp4"), "-n", "1",
                     "-m", "mixture", "-o", str(tmp_path / "sep"), "--no-video",
                     "--landmarker", str(LANDMARKER), "-q"],
    }
    for verb, args in runs.items():
        done = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert len(lines) == 1 and str(tmp_path) in lines[0], (verb, lines)
