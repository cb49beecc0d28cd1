"""What an installed wheel records: the commit it was built from, never a surrounding checkout's.

(The wheel itself is built, installed outside the checkout and run by `.ci/wheel-check`.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from avss_bench.core import provenance


def _git(where: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=where, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_wheel_inside_a_checkout_reports_its_build_commit(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A venv inside some git checkout: that checkout's HEAD is not the package's commit."""
    repo = tmp_path / "someone-elses-repo"
    (repo / "avss_bench").mkdir(parents=True)
    (repo / "avss_bench" / "x.py").write_text("")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    installed = repo / ".venv" / "site-packages" / "avss_bench"
    installed.mkdir(parents=True)
    monkeypatch.setattr(provenance, "PACKAGE", installed)
    monkeypatch.setattr(provenance, "BUILD_COMMIT", installed / "_build_commit.txt")
    assert provenance.git_commit() is None  # neither a checkout of it nor a build record
    (installed / "_build_commit.txt").write_text("0123abcd-dirty\n")
    assert provenance.git_commit() == "0123abcd-dirty"
    # the repository's own package, run from its checkout: its HEAD
    monkeypatch.setattr(provenance, "PACKAGE", (repo / "avss_bench").resolve())
    assert provenance.git_commit() == _git(repo, "rev-parse", "HEAD")
