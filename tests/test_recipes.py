"""Every bundled recipe loads, and the real ones name the lip front-end checkpoint they need."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from avss_bench.train.config import load_config

RECIPES = Path(str(resources.files("avss_bench.recipes")))
ALL = sorted(p.relative_to(RECIPES).as_posix() for p in RECIPES.glob("*/*.yaml")
             if p.name != "prepare.yaml")


def test_the_issue_13_recipes_are_bundled() -> None:
    for corpus in ("lrs2", "lrs3", "vox2"):
        for model in ("dolphin", "rtfsnet", "iianet", "ctcnet"):
            assert f"{corpus}/{model}.yaml" in ALL


@pytest.mark.parametrize("recipe", ALL)
def test_every_recipe_loads(recipe: str) -> None:
    config = load_config(RECIPES / recipe)
    assert config.model.name and config.optim.lr > 0 and config.data.segment_s > 0
    if not recipe.startswith("demo/"):
        assert config.data.root == f"data/{recipe.split('/')[0]}"
        assert config.model.frontend_checkpoint  # real recipes name their front-end weights


@pytest.mark.parametrize("corpus", ["lrs2", "lrs3", "vox2"])
def test_rtfsnet_recipe_is_the_official_setup(corpus: str) -> None:
    config = load_config(RECIPES / corpus / "rtfsnet.yaml")
    assert config.model.config == {"repeats": 12}
    assert config.model.frontend_checkpoint == "frcnn_128_512.backbone.pth.tar"
    assert (config.optim.optimizer, config.optim.lr, config.optim.weight_decay) == \
        ("adamw", 1e-3, 0.1)
    assert (config.optim.plateau_patience, config.optim.early_stop_patience,
            config.optim.max_epochs, config.data.batch_size) == (10, 15, 200, 4)
    override = load_config(RECIPES / corpus / "rtfsnet.yaml", ["model.config.repeats=4"])
    assert override.model.config == {"repeats": 4}


def test_every_corpus_has_a_bundled_prepare_recipe() -> None:
    """`prepare <corpus> --help` promises recipes/<corpus>/prepare.yaml: each exists and loads.
    Its lists mode is the one the corpus can honour (AVSpeech has no official lists)."""
    from avss_bench.corpora.registry import corpora
    from avss_bench.prepare.config import PrepareConfig, load_prepare_config

    for corpus in corpora.names():
        assert (RECIPES / corpus / "prepare.yaml").is_file(), corpus
        config = load_prepare_config(corpus)
        assert config.splits == ["tr", "cv", "tt"] and config.segment_seconds == 2.0
        assert config.lips and config.seed == 0 and config.num_mixtures is None
        assert config.mix_list == ("generate" if corpus == "avspeech" else "official")
    assert load_prepare_config("avspeech") == PrepareConfig(mix_list="generate")
