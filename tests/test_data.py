"""Target-speaker dataset: two items per mixture, official lip preprocessing, dynamic mixing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avss_bench.core.constants import LIP_CROP as CROP
from avss_bench.core.constants import LIP_MEAN, LIP_STD
from avss_bench.core.errors import AvssError
from avss_bench.data.dataset import (
    OFFICIAL_IIANET_LIP_ROWS,
    DynamicMixDataset,
    TargetSpeakerDataset,
    lips_to_tensor,
)

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import SHARED_DATA  # noqa: E402
from synthetic import make_prepared_corpus  # noqa: E402

REFERENCE_INPUTS = SHARED_DATA / "reference" / "iianet16" / "inputs.pt"


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


def test_nothing_is_cached_without_preload(corpus: Path) -> None:
    data = TargetSpeakerDataset(corpus / "manifests/tr.csv", segment_s=1.0)
    for index in range(len(data)):
        data[index]
    assert data.cached_arrays == 0
    preloaded = TargetSpeakerDataset(corpus / "manifests/tr.csv", segment_s=1.0, preload=True)
    assert preloaded.cached_arrays == 3 * 5  # per mixture: mix, s1, s2 and two lip files
    torch.testing.assert_close(preloaded[2]["lips"], data[2]["lips"])


def test_preload_is_bounded(corpus: Path) -> None:
    with pytest.raises(AvssError, match="preload needs more than 0.5 MB"):
        TargetSpeakerDataset(corpus / "manifests/tr.csv", preload=True, preload_limit_mb=0.5)


def test_official_lip_rows_reproduce_the_iianet_loader_on_the_parity_fixture() -> None:
    inputs = torch.load(REFERENCE_INPUTS, weights_only=True)
    raw = inputs["lip_2s_uint8_96"].numpy()
    full = lips_to_tensor(raw)
    torch.testing.assert_close(full[None], inputs["lip_2s"], atol=2e-6, rtol=0)
    cut = lips_to_tensor(raw, rows=OFFICIAL_IIANET_LIP_ROWS)
    assert cut.shape == (1, 50, 50, 88)
    # the official `[:, :50]` slice of the preprocessed T x 88 x 88 tensor: rows 0..49
    torch.testing.assert_close(cut[None], inputs["lip_2s"][:, :, :, :50, :], atol=2e-6, rtol=0)


def test_dataset_lip_rows_option(corpus: Path) -> None:
    data = TargetSpeakerDataset(corpus / "manifests/tr.csv", segment_s=1.0, lip_rows=50)
    assert data[0]["lips"].shape == (1, 25, 50, CROP)
    with pytest.raises(AvssError, match="lip rows must be in 1..88"):
        TargetSpeakerDataset(corpus / "manifests/tr.csv", lip_rows=96)
