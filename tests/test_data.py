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
from avss_bench.data.lengths import fit_frames, lip_frames, lip_length_problem, lips_for

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import SHARED_DATA  # noqa: E402
from synthetic import add_third_speaker, make_prepared_corpus, min_cut  # noqa: E402

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


# ------------------------------------------------------- lips of a mixture shorter than its lips

def test_lip_frames_round_half_up() -> None:
    assert [lip_frames(n) for n in (32000, 14336, 640, 320, 319, 960, 1)] == [50, 22, 1, 1, 1,
                                                                              2, 1]
    assert lip_frames(14336 + 320) == 23  # 22.5 frames: halves go up, never to even


@pytest.mark.parametrize(("frames", "source", "problem"), [
    (22, None, None), (21, None, None), (23, None, None), (50, None, None),  # cut when loaded
    (20, None, "20 lip frames but the audio needs 22 at 25 fps"),
    (0, None, "0 lip frames but the audio needs 22"),
    (50, 32000, None), (49, 32000, None), (51, 32000, None),  # a 'min'-cut source's 2 s of lips
    (52, 32000, "52 lip frames but its 32000-sample source needs 50 at 25 fps"),
    (22, 32000, "22 lip frames but its 32000-sample source needs 50 at 25 fps"),
    (22, 14336, None), (21, 14336, None),
    (20, 14336, "20 lip frames but the audio needs 22 at 25 fps"),
    (9, 6000, None),  # a source shorter than its mixture: its own frames, the last one held
    (7, 6000, "7 lip frames but the audio needs 9 at 25 fps"),
])
def test_lip_length_rule(frames: int, source: int | None, problem: str | None) -> None:
    found = lip_length_problem(frames, 14336, source)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_fit_frames_cuts_or_holds_the_last_frame_for_arrays_and_tensors() -> None:
    frames = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((5, 2, 2), np.uint8)
    assert fit_frames(frames, 3)[:, 0, 0].tolist() == [0, 1, 2]
    assert fit_frames(frames, 7)[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 4, 4]
    tensor = torch.from_numpy(frames).float()[None]
    assert fit_frames(tensor, 6)[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 4]
    assert lips_for(frames, 14336).shape[0] == 22


@pytest.fixture(scope="module")
def min_cut_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s sources; cv000 'min'-cut to 14,336 samples (0.896 s), its lip files left whole."""
    root = make_prepared_corpus(tmp_path_factory.mktemp("short"), {"tr": 2, "cv": 2})
    min_cut(root, "cv", "cv000", 14336)
    min_cut(root, "tr", "tr001", 14336)
    return root


def _raw_lips(item) -> np.ndarray:
    with np.load(item.lips_path) as npz:
        return npz["data"]


def test_a_min_cut_mixture_gets_the_lips_of_its_own_duration(min_cut_corpus: Path) -> None:
    data = TargetSpeakerDataset(min_cut_corpus / "manifests/cv.csv", segment_s=None)
    data.check()
    for index in (0, 1):  # s1 and s2 of cv000
        item = data[index]
        raw = _raw_lips(data.items[index])
        assert raw.shape[0] == 50 and item["mixture"].shape == (14336,)
        torch.testing.assert_close(item["lips"], lips_to_tensor(raw[:22]))
    assert data[2]["lips"].shape[1] == 50  # cv001 is whole
    # training: the segment zero-pads the audio and holds the mixture's last lip frame
    train = TargetSpeakerDataset(min_cut_corpus / "manifests/cv.csv", segment_s=2.0)
    item, raw = train[0], _raw_lips(train.items[0])
    assert item["mixture"].shape == (32000,) and not item["mixture"][14336:].any()
    expected = np.concatenate([raw[:22], np.repeat(raw[21:22], 28, axis=0)])
    torch.testing.assert_close(item["lips"], lips_to_tensor(expected))


def test_dynamic_mixing_cuts_a_min_cut_sources_lips_too(min_cut_corpus: Path) -> None:
    data = DynamicMixDataset(min_cut_corpus / "manifests/tr.csv", segment_s=2.0, train=False)
    data.check()
    sources, lengths = dict(data.sources), []
    for index in range(len(data)):
        item = data[index]
        wav, lips = sources["_".join(item["mixture_id"][3:].split("_")[:2])]  # the target's
        lengths.append(data._read(wav).shape[0])
        with np.load(lips) as npz:
            expected = fit_frames(npz["data"][:lip_frames(lengths[-1])], 50)
        torch.testing.assert_close(item["lips"], lips_to_tensor(expected))
    assert 14336 in lengths and 32000 in lengths


def test_every_speaker_of_a_three_speaker_mixture_is_cut_alike(tmp_path: Path) -> None:
    root = make_prepared_corpus(tmp_path, {"tt": 1})
    add_third_speaker(root, "tt")
    min_cut(root, "tt", "tt000", 14336)
    data = TargetSpeakerDataset(root / "manifests/tt.csv", segment_s=None)
    data.check()
    assert [data.items[i].target for i in range(3)] == ["s1", "s2", "s3"]
    for index in range(3):
        raw = _raw_lips(data.items[index])
        torch.testing.assert_close(data[index]["lips"], lips_to_tensor(raw[:22]))


def test_the_loader_refuses_lips_that_do_not_cover_the_mixture(min_cut_corpus: Path,
                                                               tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(min_cut_corpus, copy)
    np.savez_compressed(copy / "lips" / "cv000_s2.npz", data=np.zeros((20, 96, 96), np.uint8))
    data = TargetSpeakerDataset(copy / "manifests/cv.csv", segment_s=None)
    message = "cv000_s2.npz: 20 lip frames but the audio needs 22 at 25 fps"
    with pytest.raises(AvssError, match=message):
        data.check()
    with pytest.raises(AvssError, match=message):
        data[1]
