"""Target-speaker dataset: two items per mixture, official lip preprocessing, dynamic mixing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avss_bench.core.constants import LIP_CROP as CROP
from avss_bench.core.constants import LIP_MEAN, LIP_STD
from avss_bench.data.dataset import (
    DynamicMixDataset,
    TargetSpeakerDataset,
    lips_to_tensor,
)

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("c"), {"tr": 3, "cv": 1}, seconds=1.2)


def test_each_mixture_gives_one_item_per_speaker(corpus: Path) -> None:
    data = TargetSpeakerDataset(corpus / "manifests/tr.csv", segment_s=1.0)
    assert len(data) == 6
    item = data[1]
    assert item["mixture_id"] == "tr000" and item["target_name"] == "s2"
    assert item["mixture"].shape == (16000,) and item["lips"].shape == (1, 25, CROP, CROP)
    full = TargetSpeakerDataset(corpus / "manifests/tr.csv", segment_s=None)[0]
    assert full["mixture"].shape == (19200,) and full["lips"].shape[1] == 30


def test_centre_crop_and_standardisation_match_the_official_loader() -> None:
    frames = np.arange(2 * 96 * 96, dtype=np.int64).reshape(2, 96, 96) % 256
    out = lips_to_tensor(frames.astype(np.uint8))
    expected = (frames[:, 4:92, 4:92] / 255.0 - LIP_MEAN) / LIP_STD
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-6)


def test_dynamic_mixing_sums_two_distinct_sources_deterministically(corpus: Path) -> None:
    data = DynamicMixDataset(corpus / "manifests/tr.csv", segment_s=1.0, seed=3)
    assert len(data.sources) == 6  # 3 mixtures x 2 distinct utterances
    first = data[0]
    torch.testing.assert_close(first["mixture"], data[0]["mixture"])
    audio = {utt: data._read(wav)[:16000] for utt, (wav, _) in data.sources}
    target_utt = next(u for u, a in audio.items() if np.array_equal(a, first["target"].numpy()))
    residual = (first["mixture"] - first["target"]).numpy()
    others = [u for u, a in audio.items() if np.allclose(a, residual, atol=1e-6)]
    assert others and others[0] != target_utt
    data.epoch = 1
    assert not torch.equal(data[0]["mixture"], first["mixture"])
