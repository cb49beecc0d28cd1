"""`avss-bench prepare` and `validate`: a raw corpus -> the standard mixture benchmark.

Stages, one module each: `lists` (official / given / generated mixture lists), `sources`
(2 s sources and their P.56 levels), `lip_rois` (mouth ROIs), `mixtures` (the mixing recipe,
`mixing` + `mixlist`), `manifests`, `report`; `pipeline.prepare_corpus` runs them in order,
resumably and in shards; `validate` re-checks a prepared folder.
"""

from avss_bench.prepare.config import PrepareConfig, load_prepare_config
from avss_bench.prepare.pipeline import prepare_corpus

__all__ = ["PrepareConfig", "load_prepare_config", "prepare_corpus"]
