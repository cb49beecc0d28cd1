"""Every `avss-bench` command in README.md's bash blocks names a real verb and real options.

Parsed with the CLI's own click objects, so a renamed or removed option fails here before a
newcomer copies it. (What the commands do is tested per verb; this guards the text.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from avss_bench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """The avss-bench command lines of README's bash blocks (continuations joined)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.M | re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        line = re.sub(r"\s+#.*$", "", line).strip()
        if "avss-bench " in line and not line.startswith("git "):
            commands.append(line[line.index("avss-bench "):])
        elif " -m avss_bench.cli " in line:  # torchrun ... -m avss_bench.cli VERB ...
            commands.append("avss-bench " + line.split(" -m avss_bench.cli ", 1)[1])
    return commands


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The click command a command line reaches (`prepare lrs2` is a subcommand), and the rest."""
    command: click.Command = main
    words = words[1:]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(click.Context(command), words[0])
        assert sub is not None, f"unknown command {words[0]!r}"
        command, words = sub, words[1:]
    return command, words


def test_readme_has_the_commands_of_every_verb() -> None:
    verbs = {shlex.split(c)[1] for c in readme_commands()}
    assert verbs >= set(main.list_commands(click.Context(main))), verbs


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_uses_real_options(line: str) -> None:
    command, words = resolve(shlex.split(line))
    known = {name for param in command.params for name in param.opts + param.secondary_opts}
    known |= {"-h", "--help"}
    used = {w.split("=", 1)[0] for w in words if w.startswith("-") and not _number(w)}
    assert used <= known, f"{line}: its --help has no {sorted(used - known)}"


def _number(word: str) -> bool:
    """A negative number or range given as a value (`--snr -5:5`), not an option."""
    return re.fullmatch(r"-\d[\d.:]*", word) is not None
