"""The one cache folder of avss-bench: downloaded lists and weights, the mouth-ROI store.

`$AVSS_BENCH_CACHE` when set, else `$XDG_CACHE_HOME/avss-bench`, else `~/.cache/avss-bench`.
Every downloaded or reusable artefact lives in a named subfolder of it (`mixlists/`,
`frontends/`, `iianet/`, `face_landmarker.task`, ...), so moving or clearing the cache is one
folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "AVSS_BENCH_CACHE"


def cache_root() -> Path:
    """The cache folder by the rule above (not created here)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "avss-bench"


def cache_path(*parts: str) -> Path:
    """A path inside the cache folder, e.g. `cache_path("frontends", name)`."""
    return cache_root().joinpath(*parts)
