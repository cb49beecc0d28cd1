"""Silence native (C++) log lines that MediaPipe/TFLite print straight to file descriptor 2.

MediaPipe writes absl/TFLite start-up chatter ("Created TensorFlow Lite XNNPACK delegate",
"Feedback manager requires a model ...") from C++ at every landmarker start, once per clip and
worker during `prepare`. Python-level switches do not reach it, so we point fd 2 at /dev/null
for the few calls that print it. `AVSS_BENCH_NATIVE_LOGS=1` keeps them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Redirect file descriptor 2 to /dev/null for the duration of the block."""
    if os.environ.get("AVSS_BENCH_NATIVE_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. some notebooks): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
