"""The bad-input catalogue: every command, every way a user can feed it something
wrong, answered by one line naming the file and the problem, exit 1 (2 for usage), no
traceback, and nothing left behind that a rerun would trust.

Cases run in-process through click's CliRunner against small fixtures built once per session
(a 2-s wav, the shared 8-s single-speaker clip, a 2-mixture synthetic prepared corpus, a
tiny-av checkpoint, a plugin separator that breaks the contract). Kill -9 at seeded moments of
`prepare`, `score` and `evaluate`, then a rerun: `test_killed_runs.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shared_data import SHARED, assert_prepared
from synthetic import make_prepared_corpus

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.core.numbers import Number, NumberRange

VIDEOS = SHARED / "data" / "videos"
LANDMARKER = SHARED / "data" / "models" / "face_landmarker.task"
SINGLE = VIDEOS / "sadtalker_WDA_KatieHill_000.mp4"
CORPUS = SHARED / "data" / "corpus"
#: Files whose presence means "this output is complete": none may exist after a failure.
TRUSTED = ("summary.json", "report.json", "tracks.json", "results.csv", "best.pt", "last.pt")

PLUGIN = '''
import torch


class OneChannel(torch.nn.Module):
    """Returns [B, 1, T] instead of [B, T]."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.config = {"width": width}
        self.gain = torch.nn.Parameter(torch.ones(1))

    def forward(self, mixture, lips):
        return (mixture * self.gain)[:, None, :]
'''


@dataclass
class Kit:
    """Paths of the session's fixtures (see :func:`kit`)."""

    root: Path

    def __getattr__(self, name: str) -> Path:
        return self.root / FILES[name]


FILES = {
    "wav": "good.wav", "wav2": "good2.wav", "empty": "empty.wav", "text": "text.wav",
    "trunc": "truncated.wav", "rate8k": "rate8k.wav", "stereo": "stereo.wav",
    "silent": "silent.wav", "nan": "nan.wav", "short": "short.wav", "missing": "nope.wav",
    "mp4_trunc": "truncated.mp4", "mp4_empty": "empty.mp4", "mp4_text": "text.mp4",
    "mp4_noaudio": "noaudio.mp4", "data": "corpus", "ckpt_tiny": "tiny.pt",
    "ckpt_text": "text.pt", "csv_empty": "empty.csv", "csv_text": "text.csv",
    "csv_cols": "columns.csv", "csv_missing_wav": "corpus/manifests/missing.csv",
    "afile": "a_file", "yaml_text": "text.yaml", "results_text": "results_text",
    "results_empty": "results_empty", "raw_empty": "raw_empty", "results_list": "results_list",
    "results_garbage_csv": "results_garbage_csv",
    "noise_text": "noise_text", "noise_silent": "noise_silent", "noise_nan": "noise_nan",
    "rir_zero": "rir_zero", "noise_good": "noise_good", "csv_nolips": "corpus/manifests/nolips.csv",
    "csv_other": "corpus/manifests/other.csv", "demo_changed": "demo_changed",
    "run_tiny": "run_tiny", "avs_csv": "avspeech_test.csv",
}


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    import pandas as pd
    import torch

    from avss_bench.io.video_write import write_mp4
    from avss_bench.models.checkpoints import save_checkpoint
    from avss_bench.models.registry import build_separator

    root = tmp_path_factory.mktemp("bad")
    k = Kit(root)
    rng = np.random.default_rng(0)
    speech = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    sf.write(k.wav, speech, 16000)
    sf.write(k.wav2, 0.5 * speech + 0.05, 16000)
    k.empty.write_bytes(b"")
    k.text.write_text("this is not audio\n")
    k.trunc.write_bytes(k.wav.read_bytes()[:30])
    sf.write(k.rate8k, speech[:16000], 8000)
    sf.write(k.stereo, np.stack([speech, speech], 1), 16000)
    sf.write(k.silent, np.zeros(32000, np.float32), 16000)
    nan = speech.copy()
    nan[100:200] = np.nan
    sf.write(k.nan, nan, 16000, subtype="FLOAT")
    sf.write(k.short, speech[:200], 16000)
    k.mp4_trunc.write_bytes(SINGLE.read_bytes()[:20000])
    k.mp4_empty.write_bytes(b"")
    k.mp4_text.write_text("not a video")
    write_mp4(k.mp4_noaudio, np.zeros((10, 32, 32, 3), np.uint8), 25.0)
    make_prepared_corpus(k.data, {"tr": 2, "cv": 2, "tt": 2}, seconds=1.0)
    torch.manual_seed(0)
    save_checkpoint(build_separator("tiny-av"), k.ckpt_tiny, "tiny-av")
    k.ckpt_text.write_text("not a checkpoint")
    k.csv_empty.write_text("")
    k.csv_text.write_text("hello world\nno, commas, here?\n")
    k.csv_cols.write_text("mixture_id,mix_path\nx,y.wav\n")
    frame = pd.read_csv(k.data / "manifests" / "tt.csv")
    frame.loc[0, "mix_path"] = "../wav16k/min/tt/mix/gone.wav"
    frame.to_csv(k.csv_missing_wav, index=False)
    k.afile.write_text("a file where a folder is expected")
    k.yaml_text.write_text(": : not yaml [\n")
    k.results_text.mkdir()
    (k.results_text / "summary.json").write_text("{not json")
    k.results_empty.mkdir()
    k.results_list.mkdir()
    (k.results_list / "summary.json").write_text("[1, 2]\n")
    k.results_garbage_csv.mkdir()
    (k.results_garbage_csv / "summary.json").write_text('{"model": "mixture", "metrics": {}}')
    (k.results_garbage_csv / "results.csv").write_text("hello world\n1\n")
    k.raw_empty.mkdir()
    (root / "badplugin.py").write_text(PLUGIN)
    _stale_state_fixtures(k, speech)
    return k


def _stale_state_fixtures(k: Kit, speech: np.ndarray) -> None:
    """Noise/RIR folders with one bad file each, manifests without lips or of other speech, a
    demo folder whose checkpoint was replaced, a run folder holding a tiny-av last.pt."""
    import pandas as pd

    from avss_bench.core.atomic import write_torch
    from avss_bench.demo.corpus.generate import STAMP_NAME as CORPUS_STAMP
    from avss_bench.demo.run import DemoRun, claim_workdir
    from avss_bench.train.config import load_config

    for folder, source in (("noise_text", k.text), ("noise_silent", k.silent),
                           ("noise_nan", k.nan), ("noise_good", k.wav)):
        (k.root / folder).mkdir()
        (k.root / folder / "n.wav").write_bytes(source.read_bytes())
    k.rir_zero.mkdir()
    sf.write(k.rir_zero / "room_rir.wav", np.zeros(4000, np.float32), 16000)
    frame = pd.read_csv(k.data / "manifests" / "tt.csv")
    frame.assign(s1_lips="", s2_lips="").to_csv(k.csv_nolips, index=False)
    frame.assign(s1_utt="other_" + frame["s1_utt"], s2_utt="other_" + frame["s2_utt"]).to_csv(
        k.csv_other, index=False)
    demo = DemoRun(k.demo_changed)
    claim_workdir(demo.workdir, demo.options(), force=False)
    (demo.corpus / CORPUS_STAMP).parent.mkdir(parents=True)
    (demo.corpus / CORPUS_STAMP).write_text("{}")
    for split in demo.mixtures:
        path = demo.prepared / "manifests" / f"{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mixture_id\n")
    demo.checkpoint.parent.mkdir(parents=True)
    demo.checkpoint.write_bytes(np.random.default_rng(1).bytes(4096))  # replaced by random bytes
    demo.checkpoint_record.write_text("0" * 64 + "\n")
    k.run_tiny.mkdir()
    config = load_config("demo/tiny-av", [f"data.root={k.data}"]).to_dict()
    write_torch(k.run_tiny / "last.pt", {"model": {}, "optimizer": {}, "config": config})
    k.avs_csv.write_text("aaaaaaaaaaa,0.000000,3.000000,0.5,0.5\n")


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the exit status, what the one line must name."""

    id: str
    argv: Callable[[Kit, Path], list[str]]
    names: Callable[[Kit, Path], str]
    status: int = 1


def _c(id_: str, argv: Callable[[Kit, Path], list[str]],
       names: Callable[[Kit, Path], str] | str, status: int = 1) -> Case:
    return Case(id_, argv, names if callable(names) else (lambda k, o, s=names: s), status)


LM = ["--landmarker", str(LANDMARKER)]
SEP = ["separate", "-n", "1", "--no-video", "--quiet", *LM]


def _PREP(k: Kit, o: Path) -> list[str]:  # noqa: N802 - reads as a constant in the cases
    """A quick `prepare` of the shared LRS2 miniature's first 2 tt mixtures, audio only."""
    return ["prepare", "lrs2", "--root", str(CORPUS / "lrs2"), "--out", str(o), "--mix-list",
            str(CORPUS / "lrs2"), "--splits", "tt", "--num-mixtures", "tt=2", "--skip-lips",
            "--quiet"]


def _TRAIN(k: Kit, o: Path, recipe: str = "demo/tiny-av") -> list[str]:  # noqa: N802
    return ["train", "-r", recipe, "--data", str(k.data), "--out", str(o), "--quiet",
            "--device", "cpu"]


def _score_files(mix: str, ref: str, est: str) -> Callable[[Kit, Path], list[str]]:
    return lambda k, o: ["score", "--mixture", str(getattr(k, mix)), "--reference",
                         str(getattr(k, ref)), "--estimate", str(getattr(k, est)), "--quiet"]


CASES: list[Case] = [
    # ---------------------------------------------------------------- usage (exit 2)
    _c("models-extra-arg", lambda k, o: ["models", "extra"], "extra", 2),
    _c("unknown-verb", lambda k, o: ["separat"], "separat", 2),
    _c("separate-zero-speakers", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture", "-n", "0"],
       "--speakers", 2),
    _c("separate-chunk-too-small", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture",
                                                 "--chunk-seconds", "0"], "--chunk-seconds", 2),
    _c("prepare-no-root", lambda k, o: ["prepare", "lrs3", "--out", str(o)], "--root", 2),
    _c("prepare-unknown-corpus", lambda k, o: ["prepare", "lrs9"], "lrs9", 2),
    _c("prepare-jobs-zero", lambda k, o: ["prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
                                          "--out", str(o), "-j", "0"], "--jobs", 2),
    _c("validate-no-folder", lambda k, o: ["validate"], "OUT", 2),
    _c("score-jobs-zero", lambda k, o: ["score", "--manifest", str(k.csv_text), "-j", "0"],
       "--jobs", 2),
    _c("train-no-recipe", lambda k, o: ["train"], "--recipe", 2),
    _c("evaluate-no-data", lambda k, o: ["evaluate", "-m", "mixture"], "--data", 2),
    _c("evaluate-unknown-metric", lambda k, o: ["evaluate", "-m", "mixture", "-d", str(k.data),
                                                "-o", str(o), "--metrics", "si_snr,sdrr"],
       "sdrr", 2),
    _c("robustness-unknown-metric", lambda k, o: ["robustness", "-m", "mixture", "-d",
                                                  str(k.data), "-o", str(o), "--metrics",
                                                  "pesk"], "pesk", 2),
    _c("score-unknown-metric", lambda k, o: ["score", "--manifest",
                                             str(k.data / "manifests" / "tt.csv"), "--estimates",
                                             str(k.raw_empty), "--out", str(o), "--metrics",
                                             "stoi,estoy"], "estoy", 2),
    _c("evaluate-lip-rows-0", lambda k, o: ["evaluate", "-m", "mixture", "-d", str(k.data),
                                            "--lip-rows", "0"], "--lip-rows", 2),
    _c("profile-device-tpu", lambda k, o: ["profile", "--model", "mixture", "--device", "tpu"],
       "--device", 2),
    _c("table-no-results", lambda k, o: ["table"], "RESULTS", 2),
    _c("table-bad-format", lambda k, o: ["table", str(k.results_empty), "--format", "xls"],
       "--format", 2),
    _c("demo-steps-zero", lambda k, o: ["demo", "--workdir", str(o), "--steps", "0"],
       "--steps", 2),
    _c("demo-few-mixtures", lambda k, o: ["demo", "--workdir", str(o), "--mixtures", "3"],
       "--mixtures", 2),
    # ---------------------------------------------------------------------- separate
    _c("separate-missing-video", lambda k, o: [*SEP, str(k.missing), "-m", "mixture", "-o",
                                               str(o)], lambda k, o: str(k.missing)),
    _c("separate-empty-video", lambda k, o: [*SEP, str(k.mp4_empty), "-m", "mixture", "-o",
                                             str(o)], lambda k, o: str(k.mp4_empty)),
    _c("separate-text-video", lambda k, o: [*SEP, str(k.mp4_text), "-m", "mixture", "-o",
                                            str(o)], lambda k, o: str(k.mp4_text)),
    _c("separate-truncated-video", lambda k, o: [*SEP, str(k.mp4_trunc), "-m", "mixture", "-o",
                                                 str(o)], lambda k, o: str(k.mp4_trunc)),
    _c("separate-audio-only", lambda k, o: [*SEP, str(k.wav), "-m", "mixture", "-o", str(o)],
       lambda k, o: str(k.wav)),
    _c("separate-no-audio-track", lambda k, o: [*SEP, str(k.mp4_noaudio), "-m", "mixture",
                                                "-o", str(o)], lambda k, o: str(k.mp4_noaudio)),
    _c("separate-unknown-model", lambda k, o: [*SEP, str(SINGLE), "-m", "nosuch", "-o",
                                               str(o)], "nosuch"),
    _c("separate-bad-device", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture", "--device",
                                            "gpu0", "-o", str(o)], "gpu0"),
    _c("separate-absent-cuda", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture", "--device",
                                             "cuda:7", "-o", str(o)], "cuda:7"),
    _c("separate-no-model", lambda k, o: [*SEP, str(SINGLE), "-o", str(o)], "--model"),
    _c("separate-random-weights", lambda k, o: [*SEP, str(SINGLE), "-m", "tiny-av", "-o",
                                                str(o)], "--random-init"),
    _c("separate-other-checkpoint", lambda k, o: [*SEP, str(SINGLE), "-m", "iianet-demo", "-c",
                                                  str(k.ckpt_tiny), "-o", str(o)],
       lambda k, o: str(k.ckpt_tiny)),
    _c("separate-text-checkpoint", lambda k, o: [*SEP, str(SINGLE), "-m", "tiny-av", "-c",
                                                 str(k.ckpt_text), "-o", str(o)],
       lambda k, o: str(k.ckpt_text)),
    _c("separate-missing-checkpoint", lambda k, o: [*SEP, str(SINGLE), "-m", "tiny-av", "-c",
                                                    str(k.missing), "-o", str(o)],
       lambda k, o: str(k.missing)),
    _c("separate-missing-landmarker", lambda k, o: ["separate", str(SINGLE), "-n", "1", "-m",
                                                    "mixture", "--landmarker", str(k.missing),
                                                    "-o", str(o), "--quiet"],
       lambda k, o: str(k.missing)),
    _c("separate-too-many-speakers", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture", "-n",
                                                   "3", "-o", str(o)], lambda k, o: str(SINGLE)),
    _c("separate-plugin-one-channel", lambda k, o: [*SEP, str(SINGLE), "-m",
                                                    "badplugin:OneChannel", "-o", str(o)],
       "badplugin:OneChannel"),
    _c("separate-out-under-file", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture", "-o",
                                                str(k.afile / "out")], lambda k, o: str(k.afile)),
    # ------------------------------------------------------------------------ score
    _c("score-missing-mixture", _score_files("missing", "wav", "wav2"),
       lambda k, o: str(k.missing)),
    _c("score-empty-mixture", _score_files("empty", "wav", "wav2"), lambda k, o: str(k.empty)),
    _c("score-text-reference", _score_files("wav", "text", "wav2"), lambda k, o: str(k.text)),
    _c("score-truncated-estimate", _score_files("wav", "wav2", "trunc"),
       lambda k, o: str(k.trunc)),
    _c("score-8k-reference", _score_files("wav", "rate8k", "wav2"),
       lambda k, o: str(k.rate8k)),
    _c("score-stereo-estimate", _score_files("wav", "wav2", "stereo"),
       lambda k, o: str(k.stereo)),
    _c("score-missing-manifest", lambda k, o: ["score", "--manifest", str(k.missing),
                                               "--estimates", str(o), "--out", str(o)],
       lambda k, o: str(k.missing)),
    _c("score-text-manifest", lambda k, o: ["score", "--manifest", str(k.csv_text),
                                            "--estimates", str(k.root), "--out", str(o),
                                            "--quiet"], lambda k, o: str(k.csv_text)),
    _c("score-empty-manifest", lambda k, o: ["score", "--manifest", str(k.csv_empty),
                                             "--estimates", str(k.root), "--out", str(o),
                                             "--quiet"], lambda k, o: str(k.csv_empty)),
    _c("score-manifest-lacks-columns", lambda k, o: ["score", "--manifest", str(k.csv_cols),
                                                     "--estimates", str(k.root), "--out",
                                                     str(o), "--quiet"],
       lambda k, o: str(k.csv_cols)),
    _c("score-missing-estimates", lambda k, o: ["score", "--manifest",
                                                str(k.data / "manifests" / "tt.csv"),
                                                "--estimates", str(k.raw_empty), "--out",
                                                str(o), "--quiet"], "s1.wav"),
    # ---------------------------------------------------------------------- evaluate
    _c("evaluate-missing-data", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                              str(k.missing), "-o", str(o), "--quiet"],
       lambda k, o: str(k.missing)),
    _c("evaluate-data-without-manifests", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                                        str(k.raw_empty), "-o", str(o),
                                                        "--quiet"],
       lambda k, o: str(k.raw_empty)),
    _c("evaluate-text-manifest", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                               str(k.csv_text), "-o", str(o), "--quiet"],
       lambda k, o: str(k.csv_text)),
    _c("evaluate-manifest-lacks-columns", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                                        str(k.csv_cols), "-o", str(o),
                                                        "--quiet"],
       lambda k, o: str(k.csv_cols)),
    _c("evaluate-manifest-missing-wav", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                                      str(k.csv_missing_wav), "-o", str(o),
                                                      "--quiet"], "gone.wav"),
    _c("evaluate-unknown-split", lambda k, o: ["evaluate", "-m", "mixture", "-d", str(k.data),
                                               "--split", "xx", "-o", str(o), "--quiet"], "xx"),
    _c("evaluate-bad-device", lambda k, o: ["evaluate", "-m", "mixture", "-d", str(k.data),
                                            "--device", "gpu0", "-o", str(o), "--quiet"],
       "gpu0"),
    _c("evaluate-other-checkpoint", lambda k, o: ["evaluate", "-m", "iianet-demo", "-c",
                                                  str(k.ckpt_tiny), "-d", str(k.data), "-o",
                                                  str(o), "--quiet"],
       lambda k, o: str(k.ckpt_tiny)),
    _c("evaluate-text-checkpoint", lambda k, o: ["evaluate", "-m", "tiny-av", "-c",
                                                 str(k.ckpt_text), "-d", str(k.data), "-o",
                                                 str(o), "--quiet"],
       lambda k, o: str(k.ckpt_text)),
    _c("evaluate-random-init-refused", lambda k, o: ["evaluate", "-m", "tiny-av", "-d",
                                                     str(k.data), "-o", str(o), "--quiet"],
       "--random-init"),
    _c("evaluate-plugin-one-channel", lambda k, o: ["evaluate", "-m", "badplugin:OneChannel",
                                                    "--random-init", "-d", str(k.data), "-o",
                                                    str(o), "--quiet"],
       "badplugin:OneChannel"),
    _c("evaluate-out-under-file", lambda k, o: ["evaluate", "-m", "mixture", "-d", str(k.data),
                                                "-o", str(k.afile / "out"), "--quiet"],
       lambda k, o: str(k.afile)),
    # ----------------------------------------------------------------------- profile
    _c("profile-unknown-model", lambda k, o: ["profile", "--model", "nosuch", "--runs", "0"],
       "nosuch"),
    _c("profile-missing-checkpoint", lambda k, o: ["profile", "--checkpoint", str(k.missing),
                                                   "--runs", "0"], lambda k, o: str(k.missing)),
    _c("profile-text-checkpoint", lambda k, o: ["profile", "--checkpoint", str(k.ckpt_text),
                                                "--runs", "0"], lambda k, o: str(k.ckpt_text)),
    _c("profile-other-checkpoint", lambda k, o: ["profile", "--model", "iianet-demo",
                                                 "--checkpoint", str(k.ckpt_tiny), "--runs",
                                                 "0"], lambda k, o: str(k.ckpt_tiny)),
    _c("profile-absent-cuda", lambda k, o: ["profile", "--model", "mixture", "--device",
                                            "cuda", "--runs", "1"], "cuda"),
    _c("profile-plugin-one-channel", lambda k, o: ["profile", "--model",
                                                   "badplugin:OneChannel", "--runs", "1",
                                                   "--seconds", "0.2"],
       "badplugin:OneChannel"),
    _c("profile-rtfsnet-too-short", lambda k, o: ["profile", "--model", "rtfsnet",
                                                  "--seconds", "0.1", "--runs", "1"],
       "--seconds sets the input length"),
    _c("profile-rtfsnet-too-short-no-runs", lambda k, o: ["profile", "--model", "rtfsnet",
                                                          "--seconds", "0.1", "--runs", "0"],
       "mixture too short for RTFS-Net"),
    # ------------------------------------------------------------------------- table
    _c("table-missing-folder", lambda k, o: ["table", str(k.missing)],
       lambda k, o: str(k.missing)),
    _c("table-empty-folder", lambda k, o: ["table", str(k.results_empty)],
       lambda k, o: str(k.results_empty)),
    _c("table-corrupt-summary", lambda k, o: ["table", str(k.results_text)], "summary.json"),
    # ------------------------------------------------------------------------- train
    _c("train-unknown-recipe", lambda k, o: ["train", "-r", "demo/nosuch", "--out", str(o)],
       "demo/nosuch"),
    _c("train-missing-recipe-file", lambda k, o: ["train", "-r", str(k.root / "nope.yaml"),
                                                  "--out", str(o)], "nope.yaml"),
    _c("train-text-recipe", lambda k, o: ["train", "-r", str(k.yaml_text), "--out", str(o)],
       lambda k, o: str(k.yaml_text)),
    _c("train-missing-data", lambda k, o: ["train", "-r", "demo/iianet-demo", "--data",
                                           str(k.missing), "--out", str(o), "--quiet"],
       lambda k, o: str(k.missing)),
    _c("train-out-under-file", lambda k, o: ["train", "-r", "demo/iianet-demo", "--data",
                                             str(k.data), "--out", str(k.afile / "run"),
                                             "--quiet"], lambda k, o: str(k.afile)),
    _c("train-bad-device", lambda k, o: ["train", "-r", "demo/iianet-demo", "--data",
                                         str(k.data), "--out", str(o), "--device", "gpu0",
                                         "--quiet"], "gpu0"),
    _c("train-absent-cuda", lambda k, o: ["train", "-r", "demo/iianet-demo", "--data",
                                          str(k.data), "--out", str(o), "--device", "cuda:7",
                                          "--quiet"], "cuda:7"),
    # ----------------------------------------------------------------------- prepare
    _c("prepare-missing-root", lambda k, o: ["prepare", "lrs3", "--root", str(k.missing),
                                             "--out", str(o)], lambda k, o: str(k.missing)),
    _c("prepare-empty-root", lambda k, o: ["prepare", "lrs3", "--root", str(k.raw_empty),
                                           "--out", str(o), "--mix-list", "generate",
                                           "--skip-lips", "--quiet"],
       lambda k, o: str(k.raw_empty)),
    _c("prepare-bad-shard", lambda k, o: ["prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
                                          "--out", str(o), "--shard", "3/2"], "3/2"),
    _c("prepare-bad-num-mixtures", lambda k, o: ["prepare", "lrs3", "--root",
                                                 str(CORPUS / "lrs3"), "--out", str(o),
                                                 "--num-mixtures", "tt=many"], "tt=many"),
    _c("prepare-bad-splits", lambda k, o: ["prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
                                           "--out", str(o), "--splits", "tt,zz"], "zz"),
    _c("prepare-mix-list-missing", lambda k, o: ["prepare", "lrs3", "--root",
                                                 str(CORPUS / "lrs3"), "--out", str(o),
                                                 "--mix-list", str(k.missing)],
       lambda k, o: str(k.missing)),
    _c("prepare-merge-nothing", lambda k, o: ["prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
                                              "--out", str(o), "--mix-list",
                                              str(CORPUS / "lrs3"), "--merge"],
       lambda k, o: str(o)),
    _c("prepare-out-under-file", lambda k, o: ["prepare", "lrs3", "--root",
                                               str(CORPUS / "lrs3"), "--out",
                                               str(k.afile / "out"), "--mix-list",
                                               str(CORPUS / "lrs3"), "--splits", "tt",
                                               "--skip-lips", "--quiet"],
       lambda k, o: str(k.afile)),
    _c("prepare-missing-recipe", lambda k, o: ["prepare", "lrs3", "--root",
                                               str(CORPUS / "lrs3"), "--out", str(o),
                                               "--recipe", str(k.missing)],
       lambda k, o: str(k.missing)),
    # ---------------------------------------------------------------------- validate
    _c("validate-missing-folder", lambda k, o: ["validate", str(k.missing)],
       lambda k, o: str(k.missing)),
    _c("validate-no-manifests", lambda k, o: ["validate", str(k.raw_empty), "--quiet"],
       lambda k, o: str(k.raw_empty)),
    _c("validate-bad-split", lambda k, o: ["validate", str(k.data), "--splits", "zz",
                                           "--quiet"], "zz", 2),
    # -------------------------------------------------------------------------- demo
    _c("demo-unknown-recipe", lambda k, o: ["demo", "--workdir", str(o), "--recipe",
                                            "demo/nosuch", "--quiet"], "demo/nosuch"),
    _c("demo-workdir-under-file", lambda k, o: ["demo", "--workdir", str(k.afile / "w"),
                                                "--quiet"], lambda k, o: str(k.afile)),
    # ------------------------------------------------------------------------ report
    _c("report-no-results", lambda k, o: ["report"], "RESULTS", 2),
    _c("report-empty-results", lambda k, o: ["report", str(k.results_empty), "--out",
                                             str(o)], lambda k, o: str(k.results_empty)),
    _c("report-corrupt-summary", lambda k, o: ["report", str(k.results_text), "--out", str(o)],
       "summary.json"),
    _c("report-missing-results", lambda k, o: ["report", str(k.missing), "--out", str(o)],
       lambda k, o: str(k.missing)),
    _c("report-file-as-results", lambda k, o: ["report", str(k.afile), "--out", str(o)],
       lambda k, o: str(k.afile)),
    _c("report-summary-not-an-object", lambda k, o: ["report", str(k.results_list), "--out",
                                                     str(o)], "summary.json"),
    _c("report-garbage-results", lambda k, o: ["report", str(k.results_garbage_csv), "--out",
                                               str(o)], "results.csv"),
    # -------------------------------------------------------------------- robustness
    _c("robustness-missing-data", lambda k, o: ["robustness", "-m", "mixture", "-d",
                                                str(k.missing), "-o", str(o), "--quiet"],
       lambda k, o: str(k.missing)),
    _c("robustness-bad-condition", lambda k, o: ["robustness", "-m", "mixture", "-d",
                                                 str(k.data), "--conditions", "blur:3"],
       "blur:3"),
    _c("demo-force-foreign-folder", lambda k, o: ["demo", "--workdir", str(k.raw_empty.parent),
                                                  "--force", "--quiet"],
       lambda k, o: str(k.raw_empty.parent)),
    _c("demo-missing-landmarker", lambda k, o: ["demo", "--workdir", str(o), "--landmarker",
                                                str(k.missing), "--quiet"],
       lambda k, o: str(k.missing)),
    # ------------------------------------- numbers: finite, in range, integers where meant
    _c("prepare-snr-inf", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_good), "--snr",
                                        "inf:inf"], "--snr", 2),
    _c("prepare-snr-minus-inf", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_good),
                                              "--snr=-inf:5"], "--snr", 2),
    _c("prepare-snr-nan", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_good), "--snr",
                                        "nan:5"], "--snr", 2),
    _c("prepare-rt60-out-of-range", lambda k, o: [*_PREP(k, o), "--simulate-rooms", "--rt60",
                                                  "5:10"], "--rt60", 2),
    _c("prepare-rt60-inf", lambda k, o: [*_PREP(k, o), "--simulate-rooms", "--rt60",
                                         "inf:inf"], "--rt60", 2),
    _c("prepare-min-source-seconds-nan", lambda k, o: [*_PREP(k, o), "--min-source-seconds",
                                                       "nan"], "--min-source-seconds", 2),
    _c("profile-seconds-nan", lambda k, o: ["profile", "--model", "mixture", "--seconds", "nan"],
       "--seconds", 2),
    _c("profile-seconds-inf", lambda k, o: ["profile", "--model", "mixture", "--seconds",
                                            "inf"], "--seconds", 2),
    _c("separate-chunk-seconds-nan", lambda k, o: [*SEP, str(SINGLE), "-m", "mixture",
                                                   "--chunk-seconds", "nan"],
       "--chunk-seconds", 2),
    _c("train-override-lr-nan", lambda k, o: [*_TRAIN(k, o), "optim.lr=nan"], "optim.lr"),
    _c("train-batch-size-zero", lambda k, o: [*_TRAIN(k, o), "data.batch_size=0"],
       "data.batch_size"),
    _c("train-batch-size-negative", lambda k, o: [*_TRAIN(k, o), "data.batch_size=-2"],
       "data.batch_size"),
    _c("train-max-epochs-zero", lambda k, o: [*_TRAIN(k, o), "optim.max_epochs=0"],
       "optim.max_epochs"),
    _c("train-rtfsnet-repeats-fraction", lambda k, o: [*_TRAIN(k, o, "lrs2/rtfsnet"),
                                                       "model.config.repeats=2.5"],
       "model.config.repeats"),
    _c("train-rtfsnet-repeats-zero", lambda k, o: [*_TRAIN(k, o, "lrs2/rtfsnet"),
                                                   "model.config.repeats=0"], "repeats"),
    # --------------------------------------------------- input files checked where read
    _c("prepare-noise-not-audio", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_text)],
       lambda k, o: str(k.noise_text / "n.wav")),
    _c("prepare-noise-silent", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_silent)],
       lambda k, o: str(k.noise_silent / "n.wav")),
    _c("prepare-noise-nan", lambda k, o: [*_PREP(k, o), "--noise", str(k.noise_nan)],
       lambda k, o: str(k.noise_nan / "n.wav")),
    _c("prepare-rir-all-zero", lambda k, o: [*_PREP(k, o), "--rir", str(k.rir_zero)],
       lambda k, o: str(k.rir_zero / "room_rir.wav")),
    _c("prepare-avspeech-pattern-without-fields",
       lambda k, o: ["prepare", "avspeech", "--csv", str(k.avs_csv), "--clips",
                     str(k.raw_empty), "--clip-pattern", "clip.mp4", "--out", str(o),
                     "--quiet"], "--clip-pattern 'clip.mp4'"),
    _c("evaluate-skip-lips-corpus", lambda k, o: ["evaluate", "-m", "mixture", "-d",
                                                  str(k.csv_nolips), "-o", str(o), "--quiet"],
       "s1_lips"),
    _c("robustness-skip-lips-corpus", lambda k, o: ["robustness", "-m", "mixture", "-d",
                                                    str(k.csv_nolips), "--conditions", "none",
                                                    "-o", str(o), "--quiet"], "s1_lips"),
    _c("evaluate-lip-rows-too-small", lambda k, o: ["evaluate", "-m", "iianet-demo",
                                                    "--random-init", "-d", str(k.data),
                                                    "--lip-rows", "1", "-o", str(o), "--quiet"],
       "--lip-rows"),
    # ------------------------------------------------------------------- stale state
    _c("robustness-condition-of-other-speech",
       lambda k, o: ["robustness", "-m", "mixture", "-d", str(k.data), "-d",
                     f"other={k.csv_other}", "--conditions", "none", "-o", str(o), "--quiet"],
       "shares no utterance"),
    _c("demo-checkpoint-replaced", lambda k, o: ["demo", "--workdir", str(k.demo_changed),
                                                 "--quiet"],
       lambda k, o: str(k.demo_changed / "checkpoints" / "iianet-demo.pt")),
    _c("train-resume-without-last-pt", lambda k, o: [*_TRAIN(k, o), "--resume"],
       lambda k, o: f"{o}: nothing to resume"),
    _c("train-resume-another-model", lambda k, o: [*_TRAIN(k, k.run_tiny, "demo/iianet-demo"),
                                                   "--resume"], "model.name was \"tiny-av\""),
    _c("train-resume-changed-model-config",
       lambda k, o: [*_TRAIN(k, k.run_tiny), "--resume", "model.config.repeats=1"],
       "model.config.repeats was 2, now 1"),
    # -------------------------------------------------------------------- executors
    _c("prepare-dask-without-port", lambda k, o: [*_PREP(k, o), "--executor",
                                                  "dask://localhost"], "dask://HOST:PORT"),
    _c("prepare-bare-slurm", lambda k, o: [*_PREP(k, o), "--executor", "slurm"],
       "cores and memory"),
    _c("prepare-slurm-jobs-not-a-number", lambda k, o: [*_PREP(k, o), "--executor",
                                                        "slurm:jobs=abc,cores=1,memory=1GB"],
       "jobs must be an integer"),
    # a malformed spec is named before the (here missing) manifest and estimates are read
    _c("score-manifest-unknown-executor",
       lambda k, o: ["score", "--manifest", str(k.missing), "--estimates", str(k.missing),
                     "--out", str(o), "--executor", "kubernetes"], "got 'kubernetes'"),
    _c("score-manifest-dask-local-zero",
       lambda k, o: ["score", "--manifest", str(k.missing), "--estimates", str(k.missing),
                     "--out", str(o), "--executor", "dask-local:0"], "dask-local:N"),
]


def _trusted_outputs(out: Path) -> list[Path]:
    if not out.exists():
        return []
    found = [p for p in out.rglob("*") if p.name in TRUSTED]
    return found + sorted((out / "manifests").glob("*.csv")) if out.is_dir() else found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_the_file(case: Case, kit: Kit, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(kit.root))
    monkeypatch.setenv("AVSS_BENCH_LANDMARKER", str(LANDMARKER))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, case.argv(kit, out))
    text = result.output
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code == case.status, text
    named = case.names(kit, out)
    if case.status == 2:
        assert "Error:" in text and named in text, text
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("avss-bench: error: ")]
        assert len(errors) == 1 and errors[0] == lines[-1], text
        assert named in errors[0], errors[0]
    assert _trusted_outputs(out) == []


@pytest.mark.parametrize(("ref", "est", "reason"), [
    ("wav2", "nan", "non-finite estimate"), ("silent", "wav2", "silent reference"),
    ("short", "short", "too short for PESQ")])
def test_score_reports_undefined_metrics_as_na_with_the_reason(kit: Kit, ref: str, est: str,
                                                              reason: str) -> None:
    """Scoring files whose metrics are undefined is not an error: n/a, and why, per file."""
    mix = "short" if ref == "short" else "wav"
    result = CliRunner().invoke(main, _score_files(mix, ref, est)(kit, kit.root))
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert f"failed: {getattr(kit, ref).name} " in result.output and reason in result.output


def test_catalogue_is_large_and_covers_every_command() -> None:
    from avss_bench.cli import VERBS

    assert len(CASES) >= 60
    covered = {c.id.split("-")[0] for c in CASES}
    assert set(VERBS) <= covered



# ------------------------------------------------------------ stale state, stamps, resume
def test_prepare_rerun_with_other_conditions_is_refused_naming_the_difference(
        kit: Kit, tmp_path: Path) -> None:
    """A folder prepared with --noise is not silently rewritten as a clean corpus."""
    out = tmp_path / "out"
    first = CliRunner().invoke(main, [*_PREP(kit, out), "--noise", str(kit.noise_good)])
    assert_prepared(first)  # the miniature's list holds one same-recording mixture: flagged
    report = (out / "report.json").read_bytes()
    manifest = (out / "manifests" / "tt.csv").read_bytes()
    for extra, named in (([], "conditions.noise_dir was"),
                         (["--noise", str(kit.noise_good), "--snr", "5:5"],
                          "conditions.snr_db was [0.0, 10.0], now [5.0, 5.0]")):
        rerun = CliRunner().invoke(main, [*_PREP(kit, out), *extra])
        assert rerun.exit_code == 1 and "Traceback" not in rerun.output
        assert named in rerun.output and str(out) in rerun.output, rerun.output
    assert (out / "report.json").read_bytes() == report
    assert (out / "manifests" / "tt.csv").read_bytes() == manifest
    same = CliRunner().invoke(main, [*_PREP(kit, out), "--noise", str(kit.noise_good)])
    assert_prepared(same)  # the same options resume


def test_robustness_under_a_used_name_is_refused_and_overwrite_drops_the_old_conditions(
        kit: Kit, tmp_path: Path) -> None:
    from synthetic import make_tiny_checkpoint

    other = make_tiny_checkpoint(tmp_path / "other.pt", seed=5)
    out = tmp_path / "rob"

    def robustness(checkpoint: Path, conditions: str, *extra: str):
        return CliRunner().invoke(main, ["robustness", "-c", str(checkpoint), "-d",
                                         str(kit.data), "--conditions", conditions, "--name",
                                         "m", "-o", str(out), "--quiet", "--device", "cpu",
                                         *extra])

    assert robustness(kit.ckpt_tiny, "zero:100").exit_code == 0
    refused = robustness(other, "none")
    assert refused.exit_code == 1 and "checkpoint_sha256 was" in refused.output, refused.output
    replaced = robustness(other, "none", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    import pandas as pd

    rows = pd.read_csv(out / "robustness.csv")
    assert list(rows["condition"]) == ["clean"]  # the old checkpoint's zero:100 row is gone
    assert not (out / "m" / "zero100").exists() and not list((out / "m").glob("zero*"))


def test_robustness_csv_refuses_conditions_of_other_weights(kit: Kit, tmp_path: Path) -> None:
    """Condition folders of another checkpoint under one name (an older avss-bench, or copied
    in by hand) are never paired with this clean row."""
    import json

    from avss_bench.robustness.run import write_csv

    out = tmp_path / "rob"
    result = CliRunner().invoke(main, ["robustness", "-c", str(kit.ckpt_tiny), "-d",
                                       str(kit.data), "--conditions", "zero:100", "--name", "m",
                                       "-o", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    summary_path = next((out / "m").glob("zero*/summary.json"))
    summary = json.loads(summary_path.read_text())
    summary["checkpoint_sha256"] = "f" * 64
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(AvssError, match="the clean row of 'm'"):
        write_csv(out)


def test_train_resume_or_start_starts_in_an_empty_folder_and_resume_refuses(
        kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "run"
    quick = ["optim.max_epochs=1", "data.batch_size=2", "data.segment_s=0.5"]
    refused = CliRunner().invoke(main, [*_TRAIN(kit, out), "--resume", *quick])
    assert refused.exit_code == 1 and "nothing to resume" in refused.output
    assert not out.exists()
    started = CliRunner().invoke(main, [*_TRAIN(kit, out), "--resume-or-start", *quick])
    assert started.exit_code == 0, started.output
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    resumed = CliRunner().invoke(main, [*_TRAIN(kit, out), "--resume-or-start", *quick])
    assert resumed.exit_code == 0, resumed.output


def test_overrides_read_numbers_as_numbers() -> None:
    """README's `optim.lr=5e-4` and `1e-5` are floats (YAML 1.1 would read them as text)."""
    from avss_bench.train.config import load_config

    for text, value in (("5e-4", 5e-4), ("1e-5", 1e-5), ("1.0e-3", 1e-3), ("3", 3)):
        assert load_config("demo/tiny-av", [f"optim.lr={text}"]).optim.lr == value
    config = load_config("demo/tiny-av", ["data.batch_size=4.0", "description=1e-5 run"])
    assert config.data.batch_size == 4 and isinstance(config.data.batch_size, int)
    assert config.description == "1e-5 run"


def test_slurm_without_sbatch_is_one_line_not_a_hang(kit: Kit, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("PATH", str(tmp_path))  # a machine that is not a Slurm submit host
    start = time.monotonic()
    result = CliRunner().invoke(main, [*_PREP(kit, tmp_path / "out"), "--executor",
                                       "slurm:cores=1,memory=1GB"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].endswith(
        "no sbatch on PATH (this machine is not a Slurm submit host); use local or "
        "dask-local:N here"), result.output
    assert time.monotonic() - start < 30
    assert not (tmp_path / "out" / "report.json").exists()


# ------------------------------------------------- every numeric option, every command
def _commands() -> list[tuple[str, click.Command]]:
    """Every command line's (name, command), `prepare <corpus>` for every registered corpus."""
    from avss_bench.cli import VERBS

    ctx = click.Context(main)
    found = []
    for verb in VERBS:
        command = main.get_command(ctx, verb)
        if isinstance(command, click.Group):
            found += [(f"{verb} {sub}", command.get_command(ctx, sub))
                      for sub in command.list_commands(ctx)]
        else:
            found.append((verb, command))
    return found


def _is_numeric(param: click.Parameter) -> bool:
    return isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType,
                                   Number, NumberRange))


NUMERIC_OPTIONS = [(name, command, param) for name, command in _commands()
                   for param in command.params if _is_numeric(param)]
#: Values that broke commands before: non-finite, huge, negative, fractional, empty halves.
EDGE_VALUES = ["nan", "-nan", "inf", "-inf", "+inf", "1e999", "-1e999", "1e308", "0", "-0",
               "-1", "0.5", "2.5", "1e-5", "99999999999999999999", "-99999999999999999999",
               "", " ", "1:nan", "nan:1", "inf:inf", "-inf:5", "5:1", "1:2:3", ":", "0:0"]


def _dummy_arguments(command: click.Command, skip: click.Parameter) -> list[str]:
    """Values for the other required parameters, so that only `skip` decides the outcome."""
    args: list[str] = []
    for param in command.params:
        if param is skip or not param.required:
            continue
        value = param.type.choices[0] if isinstance(param.type, click.Choice) else "x"
        args += [param.opts[0], value] if isinstance(param, click.Option) else [value]
    return args


def _within(param: click.Parameter, value: float) -> bool:
    kind = param.type
    if isinstance(kind, (Number, NumberRange)):
        return kind.bounds.contains(value)
    if isinstance(kind, click.types._NumberRangeBase):
        return ((kind.min is None or value >= kind.min) and (kind.max is None or value <= kind.max))
    return True


def test_the_numeric_options_are_found() -> None:
    names = {(name.split()[0], p.opts[0]) for name, _, p in NUMERIC_OPTIONS}
    assert {("prepare", "--snr"), ("prepare", "--rt60"), ("prepare", "--jobs"),
            ("profile", "--seconds"), ("separate", "--chunk-seconds"), ("demo", "--steps"),
            ("evaluate", "--lip-rows"), ("robustness", "--seed")} <= names
    assert len(NUMERIC_OPTIONS) >= 30


@pytest.mark.parametrize(("name", "command", "param"), NUMERIC_OPTIONS,
                         ids=[f"{n} {p.opts[0]}" for n, _, p in NUMERIC_OPTIONS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(text="nan")
@example(text="inf")
@example(text="-inf")
@example(text="1e999")
@example(text="nan:1")
@example(text="2.5")
@given(text=st.one_of(st.sampled_from(EDGE_VALUES),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10**25, 10**25).map(str),
                      st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                                st.floats(allow_nan=True, allow_infinity=True)).map(
                          lambda t: f"{t[0]!r}:{t[1]!r}")))
def test_every_numeric_option_is_finite_in_range_or_a_usage_error(
        name: str, command: click.Command, param: click.Option, text: str) -> None:
    """Any value given to any numeric option of any command either parses to finite numbers
    inside the option's declared range (integers where integers are meant) or is a usage error
    naming the option; nothing non-finite reaches a command."""
    import math

    args = [*_dummy_arguments(command, param), f"{param.opts[0]}={text}"]
    try:
        ctx = command.make_context(name, args)
    except click.UsageError as err:
        message = err.format_message()
        assert any(opt in message for opt in param.opts), message
        return
    got = ctx.params[param.name]
    values = got if isinstance(got, tuple) else (got,)
    for value in values:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (text, got)
        assert math.isfinite(value), (text, got)
        assert _within(param, value), (text, got)
        if isinstance(param.type, click.types.IntParamType) or (
                isinstance(param.type, Number) and param.type.bounds.integer):
            assert isinstance(value, int), (text, got)


TRAIN_NUMBERS = [key for key, (kind, _, _) in __import__(
    "avss_bench.train.config", fromlist=["SCHEMA"]).SCHEMA.items() if kind in ("int", "float")]


@pytest.mark.parametrize("key", TRAIN_NUMBERS)
@settings(max_examples=25, deadline=None)
@example(text="nan")
@example(text=".inf")
@example(text="2.5")
@example(text="-1")
@given(text=st.one_of(st.sampled_from(EDGE_VALUES + [".nan", ".inf", "-.inf", "true", "[1]"]),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10**25, 10**25).map(str)))
def test_every_numeric_recipe_key_is_checked(key: str, text: str) -> None:
    """`train KEY=VALUE` (and the recipe YAML): a number of the key's kind inside its range, or
    one AvssError naming the key before anything is built."""
    import math

    from avss_bench.train.config import SCHEMA, load_config

    kind, bounds, optional = SCHEMA[key]
    try:
        config = load_config(None, [f"{key}={text}"])
    except AvssError as err:
        assert key in str(err), str(err)
        return
    section, _, field = key.rpartition(".")
    value = getattr(getattr(config, section) if section else config, field)
    if value is None:
        assert optional
        return
    assert isinstance(value, int if kind == "int" else (int, float))
    assert not isinstance(value, bool) and math.isfinite(value) and bounds.contains(value)
