"""The kill -9 resume tests' runs of `avss-bench train -r demo/tiny-av` in subprocesses:
one uninterrupted, one killed at its first checkpoint, then that one resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TRAIN = [sys.executable, "-m", "avss_bench.cli", "train", "-r", "demo/tiny-av"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def train_straight_then_kill(args: list[str], root: Path, poll_s: float) -> Path:
    """Train into `root/straight` to the end, then the same run into `root/killed`, SIGKILLed as
    soon as its first checkpoint exists (looked for every `poll_s` seconds, for 2 minutes at most).

    Returns:
        The killed run's `last.pt` (`root/killed/last.pt`).
    """
    subprocess.run(TRAIN + ["--out", str(root / "straight"), *args], env=_env(), check=True,
                   capture_output=True, timeout=300)
    victim = subprocess.Popen(TRAIN + ["--out", str(root / "killed"), *args], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = root / "killed" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(poll_s)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    return last


def resume_killed(args: list[str], root: Path) -> None:
    """Resume the run :func:`train_straight_then_kill` killed, to the end."""
    subprocess.run(TRAIN + ["--out", str(root / "killed"), "--resume", *args], env=_env(),
                   check=True, capture_output=True, timeout=300)
