"""Visual conditions on a real lip ROI (the IIANet parity fixture's 2 s, 96x96 mouth crops)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avss_bench.core.errors import AvssError
from avss_bench.data.dataset import TargetSpeakerDataset
from avss_bench.data.visual_conditions import (
    VisualCondition,
    apply_condition,
    drop_frame_rate,
    lower_resolution,
    offset_frames,
    parse_condition,
)

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import SHARED_DATA  # noqa: E402
from synthetic import make_prepared_corpus  # noqa: E402


@pytest.fixture(scope="module")
def lips() -> np.ndarray:
    inputs = torch.load(SHARED_DATA / "reference" / "iianet16" / "inputs.pt", weights_only=True)
    frames = inputs["lip_2s_uint8_96"].numpy()
    assert frames.shape == (50, 96, 96) and frames.dtype == np.uint8
    assert len({frames[i].tobytes() for i in range(50)}) == 50  # every real frame differs
    return frames


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame: is frame i of `a` equal to frame i of `b`."""
    return np.array([np.array_equal(x, y) for x, y in zip(a, b, strict=True)])


def test_zero_blackens_exactly_k_percent_and_keeps_the_rest(lips: np.ndarray) -> None:
    out = apply_condition(lips, parse_condition("zero:30", seed=1), index=3)
    black = np.array([not frame.any() for frame in out])
    assert black.sum() == 15 and out.shape == lips.shape and out.dtype == np.uint8
    assert _same(out, lips)[~black].all()
    again = apply_condition(lips, parse_condition("zero:30", seed=1), index=3)
    np.testing.assert_array_equal(out, again)  # seeded: same draw
    other = apply_condition(lips, parse_condition("zero:30", seed=2), index=3)
    assert not np.array_equal(out, other)  # another seed: another draw
    assert not np.array_equal(out, apply_condition(lips, parse_condition("zero:30", 1), 4))


def test_freeze_repeats_the_last_intact_frame(lips: np.ndarray) -> None:
    out = apply_condition(lips, parse_condition("freeze:40", seed=0), index=0)
    intact = _same(out, lips)
    assert (~intact).sum() == 20
    for i in np.flatnonzero(~intact):
        before = [j for j in range(i) if intact[j]]
        source = before[-1] if before else int(np.flatnonzero(intact)[0])
        np.testing.assert_array_equal(out[i], lips[source])
    everything = apply_condition(lips, parse_condition("freeze:100"), 0)
    assert all(np.array_equal(frame, lips[0]) for frame in everything)


def test_offset_shifts_the_video_and_repeats_the_edge(lips: np.ndarray) -> None:
    late = offset_frames(lips, 3)
    np.testing.assert_array_equal(late[3:], lips[:-3])
    assert all(np.array_equal(late[i], lips[0]) for i in range(3))
    early = offset_frames(lips, -2)
    np.testing.assert_array_equal(early[:-2], lips[2:])
    np.testing.assert_array_equal(early[-1], lips[-1])


def test_lower_resolution_keeps_the_size_and_loses_detail(lips: np.ndarray) -> None:
    out = lower_resolution(lips, 24)
    assert out.shape == lips.shape and out.dtype == np.uint8
    # area downsampling = the 4x4 blocks' means (numpy), then bilinear back to 96x96
    blocks = lips.astype(np.float64).reshape(50, 24, 4, 24, 4).mean(axis=(2, 4))
    back = torch.nn.functional.interpolate(torch.from_numpy(blocks[:, None]), size=(96, 96),
                                           mode="bilinear", align_corners=False)[:, 0].numpy()
    assert np.abs(out - back).max() <= 0.5 + 1e-4  # rounding to uint8 only
    # high frequencies are gone: second differences (curvature) shrink
    detail = lambda a: np.abs(np.diff(a.astype(np.float64), n=2, axis=2)).mean()  # noqa: E731
    assert detail(out) < 0.6 * detail(lips)
    assert abs(out.astype(np.float64).mean() - lips.astype(np.float64).mean()) < 1.0
    np.testing.assert_array_equal(lower_resolution(lips, 96), lips)  # native size: identity


def test_dropped_frame_rate_holds_samples(lips: np.ndarray) -> None:
    half = drop_frame_rate(lips, 12.5)
    for i in range(50):
        np.testing.assert_array_equal(half[i], lips[2 * (i // 2)])
    ten = drop_frame_rate(lips, 10)
    assert len({ten[i].tobytes() for i in range(50)}) == 20  # 10 fps over 2 s
    np.testing.assert_array_equal(drop_frame_rate(lips, 25), lips)


def test_parse_and_labels() -> None:
    assert parse_condition("offset:-2") == VisualCondition("offset", -2.0, 0)
    assert parse_condition("fps=12.5", seed=4).label == "fps12.5"
    assert parse_condition("zero:30").as_dict() == {"kind": "zero", "value": 30.0, "seed": 0,
                                                    "spec": "zero:30"}
    assert parse_condition("clean").label == "clean"
    for bad, message in (("blur:3", "unknown visual condition"), ("zero:130", "0..100"),
                         ("offset:1.5", "whole number"), ("fps:50", "frame rate"),
                         ("zero:x", "needs a number")):
        with pytest.raises(AvssError, match=message):
            parse_condition(bad)


def test_dataset_applies_the_condition_to_the_lips(tmp_path: Path) -> None:
    corpus = make_prepared_corpus(tmp_path / "c", {"tt": 1}, seconds=1.0)
    manifest = corpus / "manifests" / "tt.csv"
    clean = TargetSpeakerDataset(manifest, segment_s=None)
    black = TargetSpeakerDataset(manifest, segment_s=None,
                                 visual_condition=parse_condition("zero:100"))
    lowest = (0.0 - 0.421) / 0.165  # a black pixel after normalisation
    torch.testing.assert_close(black[0]["lips"], torch.full_like(clean[0]["lips"], lowest))
    torch.testing.assert_close(black[0]["mixture"], clean[0]["mixture"])
    assert not torch.equal(black[0]["lips"], clean[0]["lips"])


def test_evaluate_cli_stamps_the_condition(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from avss_bench.cli import main

    corpus = make_prepared_corpus(tmp_path / "c", {"tt": 1}, seconds=1.0)
    out = tmp_path / "res"
    result = CliRunner().invoke(main, ["evaluate", "-m", "mixture", "-d", str(corpus), "-o",
                                       str(out), "--metrics", "si_snr", "--visual-condition",
                                       "lowres:12", "--visual-seed", "7", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    expected = {"kind": "lowres", "value": 12.0, "seed": 7, "spec": "lowres:12"}
    assert summary["provenance"]["options"]["visual_condition"] == expected
    test_set = summary["test_set"]  # a condition of the split's test set, seed included
    assert test_set["kind"] == "condition" and test_set["label"].endswith(
        " + visual lowres:12, seed 7") and summary["dataset"] == test_set["label"]
    stamp = json.loads((out / "evaluate.stamp.json").read_text())
    assert stamp["options"]["visual_condition"] == expected
    again = CliRunner().invoke(main, ["evaluate", "-m", "mixture", "-d", str(corpus), "-o",
                                      str(out), "--metrics", "si_snr", "--visual-condition",
                                      "lowres:12", "--visual-seed", "8", "-q"])
    assert again.exit_code == 1  # another seed is another evaluation: the folder is refused
    assert "visual_condition.seed was 7, now 8" in again.output
