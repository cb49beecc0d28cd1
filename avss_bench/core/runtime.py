"""Process-level settings that make torch's CPU kernels fast on small, shared machines.

Nothing here runs at import: the CLI calls `configure_process()` when a command starts, before
anything imports torch; a program that uses the library can call it (or set the variables)
itself.

torch's CPU build runs its kernels on libgomp threads, whose default ACTIVE wait policy makes
idle threads spin: on a machine where other processes also want the cores, every parallel
region then waits for a descheduled spinner (measured on a loaded 2-core VM: first training
step of the demo model 58 s with the default policy, 1.0 s with PASSIVE). libgomp reads
OMP_WAIT_POLICY once, when torch is first imported.

glibc serves every large tensor with a fresh mmap and returns it on free, so each forward pass
page-faults its activations in again (~0.5 M minor faults per IIANet forward); keeping freed
memory on the heap removes that (measured ~1.7x on IIANet, 2-core VM). Applied by the CLI to
its own process only; a library user can call `tune_allocator()` themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

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


def configure_process() -> None:
    """Apply this module's tuning to the current process: called where a command starts.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it (effective only if torch is not yet
    imported) and raises glibc's allocator thresholds (`tune_allocator`).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    tune_allocator()
