"""Process-level settings that make torch's CPU kernels fast on small, shared machines.

Nothing here runs at import: the CLI calls `configure_process()` when a command starts, before
anything imports torch; a program that uses the library can call it (or set the variables)
itself.

torch's CPU build runs its kernels on libgomp threads. Between parallel regions an idle
thread spins (libgomp's default: 300,000 rounds) or, with OMP_WAIT_POLICY=PASSIVE, sleeps at once.
Spinning is fastest on an idle machine but disastrous on a busy one: every parallel region waits
for a descheduled spinner. Sleeping at once makes every hand-over a futex wake-up, which triples
the time of a small model's step. A short spin (GOMP_SPINCOUNT=1000) keeps most of both:
`benchmarks/omp_wait.py` (iianet-demo training step, 2 threads, 2-core VM) measured 0.56 s
(default spin), 0.68 s (1000), 1.89 s (PASSIVE) idle; with two busy processes beside it the
default spin did not finish 5 steps in 240 s, 1000 took 2.24 s and PASSIVE 1.68 s. libgomp reads
these variables once, when torch is first imported. `avss-bench demo`, meant to be run alone,
spins longer (DEMO_SPIN_COUNT).

glibc serves every large tensor with a fresh mmap and returns it on free, so each forward pass
page-faults its activations in again (~0.5 M minor faults per IIANet forward); keeping freed
memory on the heap removes that (measured ~1.7x on IIANet, 2-core VM). Applied by the CLI to
its own process only; a library user can call `tune_allocator()` themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Any

SPIN_COUNT = "1000"  # libgomp's spin before an idle thread sleeps (see the module docstring)
#: `avss-bench demo`'s spin: it expects the machine to itself (its README section says so), and
#: its training step is 15 % faster idle with the longer spin (0.55 vs 0.64 s, benchmarks/README).
DEMO_SPIN_COUNT = "10000"
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = 2**31 - 1, trim_threshold: int = 2**31 - 1) -> bool:
    """Raise glibc's mmap and trim thresholds (no-op elsewhere); returns whether applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    ok_mmap = mallopt(M_MMAP_THRESHOLD, ctypes.c_int(mmap_threshold))
    ok_trim = mallopt(M_TRIM_THRESHOLD, ctypes.c_int(trim_threshold))
    return bool(ok_mmap and ok_trim)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or ``None`` where there is none (not Linux, not glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim(0)``; no-op elsewhere).

    Decoding a long 1080p video frame by frame while MediaPipe runs on each frame leaves the
    freed memory so fragmented that glibc keeps growing the heap: a 5-minute video's face
    detection pass reached 1.1-2.6 GB in sudden steps, all of it free (one ``malloc_trim``
    brought it back to 0.26 GB). `avss_bench.io.video.FrameStream` calls this every 10 decoded
    frames, which kept that pass at 0.32 GB peak (ru_maxrss) for 4 % more time.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def configure_process(spin_count: str = SPIN_COUNT) -> None:
    """Apply this module's tuning to the current process: called where a command starts.

    Sets ``GOMP_SPINCOUNT`` (``spin_count``, default 1000) unless the user set it or
    ``OMP_WAIT_POLICY`` (effective only if torch is not yet imported) and raises glibc's
    allocator thresholds (`tune_allocator`).
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", spin_count)
    tune_allocator()
