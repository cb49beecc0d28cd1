"""The model layer: the separator registry, checkpoints, the lip front-end, small separators.

This module is also the API that model packages (the bundled `avss_models.*`, a user's plugin)
build on: they import from here only (the `AVSeparator` base class, `ModelCard`, the LRW lip
front-end, the weight-loading helpers), and the registry finds them through the
`avss_bench.separators` entry points, so nothing in `avss_bench` imports a model package.
"""

from __future__ import annotations

from avss_bench.core.cache import cache_path
from avss_bench.core.download import download
from avss_bench.core.errors import AvssError
from avss_bench.core.hashing import sha256_of
from avss_bench.models.base import AVSeparator
from avss_bench.models.card import ModelCard, OfficialFile, card_of
from avss_bench.models.lip_frontend import (
    FRONTEND_NAME,
    FRONTEND_NOTE,
    FRONTEND_RELEASES,
    LipFrontend,
    freeze,
    frontend_state_dict_from,
    load_frontend_weights,
    load_lip_frontend,
)
from avss_bench.models.separators.tiny import TinyLipEncoder
from avss_bench.models.state import (
    WRAPPER_PREFIXES,
    as_batch,
    fit_state_dict,
    key_listing,
    split_official_keys,
)

__all__ = [
    "FRONTEND_NAME", "FRONTEND_NOTE", "FRONTEND_RELEASES", "WRAPPER_PREFIXES", "AVSeparator",
    "AvssError", "LipFrontend", "ModelCard", "OfficialFile", "TinyLipEncoder", "as_batch",
    "cache_path", "card_of", "download", "fit_state_dict", "freeze", "frontend_state_dict_from",
    "key_listing", "load_frontend_weights", "load_lip_frontend", "sha256_of",
    "split_official_keys",
]
