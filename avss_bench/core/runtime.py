"""Process-level settings that make torch's CPU kernels fast on small, shared machines.

Nothing here runs at import: the CLI calls `configure_process()` when a command starts, before
anything imports torch; a program that uses the library can call it (or set the variables)
itself.

torch's CPU build runs its kernels on libgomp threads. Between parallel regions an idle
thread spins (libgomp's default: 300,000 rounds, ~3 ms) or, with OMP_WAIT_POLICY=PASSIVE,
sleeps at once. No fixed setting is right on both an idle and a busy machine
(`benchmarks/omp_wait.py`, iianet-demo training step, 2 threads, 2-core VM): spinning is
fastest idle (0.54-0.57 s/step with GOMP_SPINCOUNT=10000) but collapses beside one busy
process (5-13 s/step, up to 34 s in the demo: a thread spins on the core its team-mate waits
for); PASSIVE never collapses (1.35 s/step beside one busy process) but is 3x slower idle
(1.89 s/step: every hand-over wakes a sleeping thread). libgomp reads these variables once, when
torch is first imported, so the choice is made then, from a measurement: `configure_process`
samples the CPUs this process may use for `LOAD_WINDOW_S` (`other_busy_cores`, /proc/stat) and
picks PASSIVE when other processes leave fewer free cores than the threads the command will
run, else a short spin (`SPIN_COUNT`). A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always
wins. Work that starts beside a command after it started is not seen (set
OMP_WAIT_POLICY=PASSIVE yourself on a machine that gets busy later).

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
import time
from pathlib import Path
from typing import Any

#: libgomp's spin (rounds, ~0.1 ms) before an idle thread sleeps, on a machine with free cores
SPIN_COUNT = "10000"
#: seconds of /proc/stat sampling behind the choice (adds this much to a command's start)
LOAD_WINDOW_S = 0.1
#: other processes' busy cores beyond which a core no longer counts as free
BUSY_MARGIN = 0.25
#: what `configure_process` chose and why (for logs and benchmarks)
LAST_CHOICE: dict[str, Any] = {}
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


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over `cpus`, from /proc/stat (None where unreadable)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [float(v) for v in rest.split()[:8]]  # user nice system idle iowait irq ...
        total += sum(fields)
        busy += sum(fields) - fields[3] - fields[4]
        seen += 1
    return (busy, total) if seen else None


def usable_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity mask; all CPUs where there is none)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def other_busy_cores(window: float = LOAD_WINDOW_S) -> float | None:
    """Cores of this process's CPUs kept busy by other processes during `window` seconds.

    Measured from /proc/stat over the CPUs in the affinity mask, minus this process's own CPU
    time; None where /proc/stat is not available (not Linux).
    """
    cpus = usable_cpus()
    before, own0, t0 = _cpu_times(cpus), time.process_time(), time.perf_counter()
    if before is None:
        return None
    time.sleep(window)
    after, own1, t1 = _cpu_times(cpus), time.process_time(), time.perf_counter()
    if after is None or after[1] <= before[1]:
        return None
    busy_fraction = (after[0] - before[0]) / (after[1] - before[1])
    return max(0.0, busy_fraction * len(cpus) - (own1 - own0) / max(t1 - t0, 1e-9))


def wait_policy(threads: int | None = None, busy: float | None = None) -> dict[str, str]:
    """The libgomp variables for a command that will run `threads` torch threads (default: the
    usable CPUs) while other processes keep `busy` cores busy (None: not measured).

    PASSIVE when fewer than `threads` cores are free, else `GOMP_SPINCOUNT=SPIN_COUNT`.
    """
    cpus = len(usable_cpus())
    threads = cpus if threads is None else max(1, min(int(threads), cpus))
    if busy is not None and cpus - busy < threads - BUSY_MARGIN:
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {"GOMP_SPINCOUNT": SPIN_COUNT}


def configure_process(threads: int | None = None) -> None:
    """Apply this module's tuning to the current process: called where a command starts.

    Unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, measures how busy the
    machine is and sets the libgomp wait policy for a command running `threads` torch threads
    (default: ``OMP_NUM_THREADS``, else every usable CPU): see the module docstring. Effective
    only if torch is not yet imported. Then raises glibc's allocator thresholds
    (`tune_allocator`).
    """
    LAST_CHOICE.clear()
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        LAST_CHOICE.update(reason="set by the user", busy_cores=None)
    else:
        if threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
            threads = int(os.environ["OMP_NUM_THREADS"])
        busy = other_busy_cores()
        chosen = wait_policy(threads, busy)
        os.environ.update(chosen)
        LAST_CHOICE.update(chosen, reason="measured", busy_cores=busy, threads=threads)
    tune_allocator()
