"""Corpus recipes: one module per corpus, found through a registry (`prepare <corpus>`).

`lrs2`, `lrs3` and `vox2` are bundled; a plugin adds a corpus by subclassing
`avss_bench.corpora.base.Corpus` and registering it under the entry-point group
`avss_bench.corpora`. `avss_bench.prepare.pipeline.prepare_corpus` turns any of them into mixtures,
lip ROIs and manifests.
"""

from __future__ import annotations

from avss_bench.corpora.base import Corpus, Utterance
from avss_bench.corpora.registry import corpora, get_corpus

__all__ = ["Corpus", "Utterance", "corpora", "get_corpus"]
