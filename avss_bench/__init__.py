"""avss-bench: audio-visual speech separation benchmarks (LRS2/LRS3/VoxCeleb2-2Mix).

The public API is re-exported here lazily so `import avss_bench` stays light:
`load_separator`, `load_lip_frontend`, `AvssError`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["AvssError", "__version__", "load_lip_frontend", "load_separator"]

from avss_bench.core.errors import AvssError


def __getattr__(name: str) -> Any:
    if name == "load_separator":
        from avss_bench.models.registry import load_separator

        return load_separator
    if name == "load_lip_frontend":
        from avss_bench.models.lip_frontend import load_lip_frontend

        return load_lip_frontend
    raise AttributeError(f"module 'avss_bench' has no attribute {name!r}")
