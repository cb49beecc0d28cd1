"""Mixtures 'min'-cut shorter than their sources' lips (`data.lengths`): `validate` and the loader
apply one rule, and prepare, validate, train, evaluate, score, robustness and the report's lip
strips all go through on the LRS2 miniature's own lists (its cv mixture is 0.896 s) and on a
generated corpus with deliberately short sources."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.data.dataset import TargetSpeakerDataset, lips_to_tensor
from avss_bench.data.lengths import fit_frames, lip_frames
from avss_bench.io.manifest import read_manifest, write_manifest
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.validate import validate_prepared

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import LANDMARKER, SHARED_DATA, other_problems  # noqa: E402
from synthetic import make_prepared_corpus, make_short_source_corpus, min_cut  # noqa: E402

LRS2 = SHARED_DATA / "corpus" / "lrs2"
#: the LRS2 miniature's cv mixture: 14,336 samples, its second source being 0.896 s long
SHORT = "6312077425533871019_00005_1.209_6325910842190313542_00001_-1.209"
TINY = ["model.config.enc_channels=16", "model.config.hidden=32", "model.config.num_blocks=2",
        "model.config.repeats=1", "model.config.video_channels=8"]


@pytest.fixture(scope="module")
def lrs2_cv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LRS2 miniature's cv split prepared with its own list, without lips (fast)."""
    out = tmp_path_factory.mktemp("lrs2cv") / "out"
    prepare_corpus("lrs2", LRS2, out, mix_list=LRS2, splits=["cv"], skip_lips=True, quiet=True)
    return out


def _numbered_lips(frames: int) -> np.ndarray:
    """uint8 [frames, 96, 96] whose frame i is filled with the value 5 * i (so a cut shows)."""
    return (5 * np.arange(frames, dtype=np.uint8))[:, None, None] * np.ones((1, 96, 96), np.uint8)


# (s1 frames, s2 frames), whether the manifest says each source's length, whether it loads.
# The mixture has 14,336 samples (22 frames); s1's source 32,000 (50 frames), s2's 14,336.
CASES = [
    ((50, 22), True, True),  # what prepare writes: s1's lips cover its whole 2 s source
    ((49, 21), True, True),  # each video ends one frame early
    ((51, 23), True, True),
    ((48, 22), True, False),  # s1's lips do not match its 2 s source
    ((22, 22), True, False),
    ((50, 20), True, False),  # s2's lips do not cover the mixture
    ((75, 22), False, True),  # without s<k>_source_samples only the cover is known
    ((21, 23), False, True),
    ((50, 20), False, False),
]


@pytest.mark.parametrize(("frames", "with_sources", "loads"), CASES)
def test_validate_and_the_loader_agree_on_lip_lengths(lrs2_cv: Path, tmp_path: Path,
                                                      frames: tuple[int, int], with_sources: bool,
                                                      loads: bool) -> None:
    out = tmp_path / "out"
    shutil.copytree(lrs2_cv, out)
    manifest = out / "manifests" / "cv.csv"
    frame = pd.read_csv(manifest)
    assert frame["mixture_id"].tolist() == [SHORT] and frame["num_samples"].tolist() == [14336]
    assert frame[["s1_source_samples", "s2_source_samples"]].values.tolist() == [[32000, 14336]]
    for k, count in enumerate(frames, start=1):
        (out / "lips").mkdir(exist_ok=True)
        np.savez_compressed(out / "lips" / f"s{k}.npz", data=_numbered_lips(count))
        frame[f"s{k}_lips"] = f"../lips/s{k}.npz"
    if not with_sources:
        frame = frame.drop(columns=["s1_source_samples", "s2_source_samples"])
    write_manifest(frame, manifest)

    problems = validate_prepared(out, check_gains=False, require_lips=True, quiet=True).problems
    data = TargetSpeakerDataset(manifest, segment_s=None)
    try:
        data.check()
        items = [data[0], data[1]]
    except AvssError as err:
        assert not loads, err
        problem = str(err).split(": ", 1)[1]  # the loader's words, after the file's path
        assert len(problems) == 1 and problem in problems[0], (problem, problems)
        return
    assert loads and problems == []
    for k, item in enumerate(items, start=1):  # each target gets exactly the mixture's frames
        assert item["mixture"].shape == (14336,)
        expected = fit_frames(_numbered_lips(frames[k - 1]), 22)
        torch.testing.assert_close(item["lips"], lips_to_tensor(expected))


class _LipCounter(torch.nn.Module):
    """Returns its mixture; records the lip frames it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[int] = []

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor) -> torch.Tensor:
        self.frames.append(int(lips.shape[2]))
        return mixture


def test_the_absent_face_is_cut_to_the_mixture_too(tmp_path: Path) -> None:
    from avss_bench.evaluate.absent import score_absent

    root = make_prepared_corpus(tmp_path, {"tt": 2})
    min_cut(root, "tt", "tt001", 14336)
    np.savez_compressed(root / "lips" / "silent.npz", data=_numbered_lips(50))
    manifest = root / "manifests" / "tt.csv"
    frame = read_manifest(manifest)
    frame["absent_utt"], frame["absent_speaker"] = "silent_u", "spk3"
    frame["absent_lips"] = "../lips/silent.npz"
    write_manifest(frame, manifest)
    counter = _LipCounter()
    table, _ = score_absent(counter, manifest, torch.device("cpu"))
    assert counter.frames == [50, 22] and len(table) == 2
    np.savez_compressed(root / "lips" / "silent.npz", data=_numbered_lips(20))
    with pytest.raises(AvssError, match="silent.npz: 20 lip frames but the audio needs 50"):
        score_absent(counter, manifest, torch.device("cpu"))


def _prepare(kind: str, root: Path) -> tuple[Path, str]:
    """A prepared corpus with 'min'-cut mixtures, and the split to evaluate."""
    out = root / "prepared"
    if kind == "lrs2-own-lists":
        prepare_corpus("lrs2", LRS2, out, mix_list=LRS2, landmarker=LANDMARKER, jobs=2,
                       quiet=True)
        return out, "cv"
    corpus = make_short_source_corpus(root / "corpus")
    prepare_corpus("lrs2", corpus, out, mix_list="generate", landmarker=LANDMARKER, jobs=2,
                   num_mixtures={"tr": 4, "cv": 2, "tt": 3}, quiet=True)
    return out, "tt"


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lrs2-own-lists", "generated-short-sources"])
def test_prepare_validate_train_evaluate_score_robustness_report(kind: str,
                                                                 tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from avss_bench.report.figures import lip_strip

    out, split = _prepare(kind, tmp_path)
    frame = read_manifest(out / "manifests" / f"{split}.csv")
    longest = frame[["s1_source_samples", "s2_source_samples"]].max(axis=1)
    cut = frame[frame["num_samples"] < longest]
    assert len(cut) >= 1 and cut["num_samples"].max() < 32000  # lips longer than the mixture
    assert other_problems(validate_prepared(out, quiet=True).problems) == []

    run = tmp_path / "run"
    _run("train", "-r", "demo/tiny-av", "--data", str(out), "--out", str(run), "--device", "cpu",
         "-q", *TINY, "optim.max_epochs=2", "data.batch_size=4")
    assert len((run / "log.csv").read_text().splitlines()) == 3

    results = tmp_path / "evaluation"
    _run("evaluate", "-c", str(run / "best.pt"), "-d", str(out), "--split", split, "-o",
         str(results), "--device", "cpu", "-q", "--metrics", "si_snr", "--save-audio", "2")
    scores = pd.read_csv(results / "results.csv")
    assert len(scores) == 2 * len(frame) and np.isfinite(scores["si_snr"]).all()

    estimates = tmp_path / "estimates"  # `score` on the same split: the mixture as estimate
    for row in frame.itertuples():
        (estimates / row.mixture_id).mkdir(parents=True)
        for target in ("s1", "s2"):
            shutil.copy(out / "manifests" / row.mix_path, estimates / row.mixture_id /
                        f"{target}.wav")
    _run("score", "--manifest", str(out / "manifests" / f"{split}.csv"), "--estimates",
         str(estimates), "--out", str(tmp_path / "score"), "--metrics", "si_snr", "-q")
    assert len(pd.read_csv(tmp_path / "score" / "results.csv")) == 2 * len(frame)

    robust = tmp_path / "robustness"
    _run("robustness", "-c", str(run / "best.pt"), "-d", str(out), "--split", split,
         "--conditions", "zero:30,offset:3", "-o", str(robust), "--device", "cpu", "-q")
    assert len(pd.read_csv(robust / "robustness.csv")) == 3  # clean + 2 conditions

    # the report's lip strip of a target whose lips outlast its mixture shows the mixture's
    short, target = next((row, f"s{k}") for row in cut.itertuples() for k in (1, 2)
                         if getattr(row, f"s{k}_source_samples") > row.num_samples)
    site = tmp_path / "site"
    _run("report", str(results), "--out", str(site), "--example", f"{short.mixture_id}_{target}")
    strips = list(site.glob(f"examples/*_{short.mixture_id}_{target}/lips.png"))
    with np.load(out / "manifests" / getattr(short, f"{target}_lips")) as npz:
        raw = npz["data"]
    lip_strip(fit_frames(raw, lip_frames(int(short.num_samples))), tmp_path / "cut.png")
    lip_strip(raw, tmp_path / "whole.png")
    shown = plt.imread(strips[0])
    assert np.array_equal(shown, plt.imread(tmp_path / "cut.png"))
    assert not np.array_equal(shown, plt.imread(tmp_path / "whole.png"))
