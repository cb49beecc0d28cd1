"""Test-session settings: fail fast without `../shared`, and the CLI's process tuning."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import SHARED_DATA  # noqa: E402

# `avss-bench` picks the OpenMP wait policy at start-up from how busy the machine is
# (avss_bench.core.runtime.configure_process); the tests run the CLI in-process, after torch is
# loaded, so one short spin is fixed here for the whole session instead.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
# No mouth-ROI store unless a test asks for one (tests/test_lip_store.py): every other test
# extracts its crops itself and never writes into the user's cache.
os.environ.setdefault("AVSS_BENCH_LIPS_STORE", "off")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (SHARED_DATA / "corpus").is_dir():
        raise pytest.UsageError(
            f"the test data folder {SHARED_DATA} is missing: clone the repository beside "
            "`shared/` or set AVSS_SHARED; tests that need it fail rather than skip")
