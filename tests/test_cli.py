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
