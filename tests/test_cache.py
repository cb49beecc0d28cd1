"""The one cache-folder rule every downloaded or reused artefact follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from avss_bench.core.cache import cache_path, cache_root
from avss_bench.lips.landmarker import default_cache_path
from avss_bench.models.lip_frontend import frontend_cache_dir
from avss_models.iianet.official import cache_dir as iianet_cache_dir


@pytest.mark.parametrize(("env", "expected"), [
    ({"AVSS_BENCH_CACHE": "/c/own", "XDG_CACHE_HOME": "/c/xdg"}, "/c/own"),
    ({"XDG_CACHE_HOME": "/c/xdg"}, "/c/xdg/avss-bench"),
    ({"HOME": "/c/home"}, "/c/home/.cache/avss-bench"),
])
def test_every_artefact_resolves_the_cache_folder_by_one_rule(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    for key in ("AVSS_BENCH_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = Path(expected)
    assert cache_root() == root
    assert cache_path("mixlists", "lrs2") == root / "mixlists" / "lrs2"
    assert default_cache_path() == root / "face_landmarker.task"
    assert frontend_cache_dir() == root / "frontends"
    assert iianet_cache_dir() == root
