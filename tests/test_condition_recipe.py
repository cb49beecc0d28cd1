"""Robustness conditions set in the preparation recipe (YAML) build what the same options on
the command line build, byte for byte; an option on the command line overrides the recipe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner
from shared_data import SHARED_DATA, assert_prepared

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.prepare.config import load_prepare_config

LRS2 = SHARED_DATA / "corpus" / "lrs2"
NOISE = SHARED_DATA / "noise" / "speechbrain"
BASE = ["prepare", "lrs2", "--root", str(LRS2), "--mix-list", "generate", "--splits", "tt",
        "--num-mixtures", "tt=1", "--skip-lips", "--quiet"]


@pytest.fixture(scope="module")
def wham(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature WHAM! noise corpus from a real recording, beside the recipes."""
    root = tmp_path_factory.mktemp("recipe")
    x, rate = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    for split in ("tr", "cv", "tt"):
        (root / "noise" / "wham_noise" / split).mkdir(parents=True)
        sf.write(str(root / "noise" / "wham_noise" / split / "n.wav"), x, rate, subtype="PCM_16")
    return root


def hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "report.json"}


def prepare(out: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, [*BASE, "--out", str(out), *args])
    assert_prepared(result)
    return json.loads((out / "report.json").read_text())


def test_recipe_conditions_equal_the_command_line(wham: Path) -> None:
    recipe = wham / "prepare.yaml"  # the noise folder relative to the recipe's folder
    recipe.write_text("corpus: lrs2\nspeakers: 3\nnoise: noise\nsnr: [2, 2]\n")
    by_cli = prepare(wham / "cli", "--speakers", "3", "--noise", str(wham / "noise"),
                     "--snr", "2:2")
    by_recipe = prepare(wham / "yaml", "--recipe", str(recipe))
    assert hashes(wham / "cli") == hashes(wham / "yaml")
    assert len(hashes(wham / "cli")) > 10
    assert by_recipe["options"]["conditions"] == by_cli["options"]["conditions"]
    assert by_cli["options"]["conditions"]["speakers"] == 3
    row = next(pd.read_csv(wham / "yaml" / "manifests" / "tt.csv").itertuples())
    assert row.snr_db == 2.0 and isinstance(row.s3_path, str)
    # the command line wins over the recipe
    prepare(wham / "over", "--recipe", str(recipe), "--snr", "4:4", "--speakers", "2")
    row = next(pd.read_csv(wham / "over" / "manifests" / "tt.csv").itertuples())
    assert row.snr_db == 4.0 and "s3_path" not in row._fields


def test_recipe_condition_values_are_checked(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    for text, message in (("speakers: 5", "speakers must be 2, 3 or 4"),
                          ("noise: nowhere", "not a directory"),
                          ("target_absent: yes please", "true or false"),
                          ("rt60: {a: 1}", "LOW:HIGH")):
        recipe.write_text(text + "\n")
        with pytest.raises(AvssError, match=message):
            load_prepare_config("lrs2", recipe)
    recipe.write_text("rt60: 0.4\nsimulate_rooms: true\n")
    config = load_prepare_config("lrs2", recipe)
    assert (config.rt60, config.simulate_rooms, config.speakers) == ("0.4", True, None)
