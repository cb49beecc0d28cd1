"""avss-bench: audio-visual speech separation benchmarks (LRS2/LRS3/VoxCeleb2-2Mix).

The public API is re-exported here lazily so `import avss_bench` stays light:
`load_separator`, `load_lip_frontend`, `AvssError`.
"""

from __future__ import annotations

import os
from typing import Any

# torch's CPU build runs its kernels on libgomp threads, whose default ACTIVE wait policy makes
# idle threads spin: on a machine where other processes also want the cores, every parallel
# region then waits for a descheduled spinner (measured on a loaded 2-core VM: first training
# step of the demo model 58 s with the default policy, 1.0 s with PASSIVE). libgomp reads the
# variable when torch is first imported, so it is set before anything of ours imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["AvssError", "__version__", "load_lip_frontend", "load_separator"]

from avss_bench.errors import AvssError  # noqa: E402


def __getattr__(name: str) -> Any:
    if name == "load_separator":
        from avss_bench.registry import load_separator

        return load_separator
    if name == "load_lip_frontend":
        from avss_bench.lip_frontend import load_lip_frontend

        return load_lip_frontend
    raise AttributeError(f"module 'avss_bench' has no attribute {name!r}")
