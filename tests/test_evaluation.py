"""Evaluation: one row per target, resume after interruption, 2-rank sharding == 1 rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from avss_bench.core.errors import AvssError
from avss_bench.evaluate.run import evaluate

sys.path.insert(0, str(Path(__file__).parent))
from interrupt_helpers import interrupt_scoring_after  # noqa: E402
from synthetic import make_prepared_corpus, make_tiny_checkpoint  # noqa: E402

METRICS = ("si_snr", "sdr", "stoi")
HERE = Path(__file__).stem


class SilentSeparator(torch.nn.Module):
    """Returns silence: every metric fails with a reason."""

    config: dict = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros_like(mixture)


class ChannelSeparator(torch.nn.Module):
    """Breaks the contract the way a plugin did: [B, 1, T] instead of [B, T]."""

    config: dict = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return mixture[:, None]


class NanSeparator(torch.nn.Module):
    config: dict = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return mixture * float("nan")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("corpus"), {"tt": 5}, seconds=1.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def test_one_row_per_target_and_a_stamped_summary(corpus: Path, checkpoint: Path,
                                                  tmp_path: Path) -> None:
    summary = evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=METRICS,
                       save_audio=2, quiet=True)
    frame = pd.read_csv(tmp_path / "results.csv")
    assert len(frame) == 10 and list(frame["target"][:2]) == ["s1", "s2"]
    assert {"si_snr", "si_snr_i", "sdr", "sdr_i", "stoi"} <= set(frame.columns)
    assert summary["num_targets"] == 10 and len(summary["checkpoint_sha256"]) == 64
    # no test-set record beside the manifest: named by its content, never by its folder
    assert summary["test_set"]["kind"] == "given" and corpus.name not in summary["dataset"]
    assert summary["dataset"] == summary["test_set"]["label"] == \
        f"unrecorded list, 5 mixtures ({summary['test_set']['fingerprint'][:12]})"
    assert summary["config"]["enc_channels"] == 16
    assert summary["metrics"]["si_snr_i"]["n"] == 10
    assert len(list((tmp_path / "examples").glob("*.wav"))) == 2
    assert not list(tmp_path.glob("*.partial.csv"))


def test_examples_are_chosen_from_every_scored_target_also_on_resume(
        corpus: Path, checkpoint: Path, tmp_path: Path) -> None:
    """--save-audio 3 keeps the best, median and worst SI-SNRi of all 10 targets, labelled so;
    a resumed run writes a missing one again, the same bytes."""
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",),
             save_audio=3, quiet=True)
    frame = pd.read_csv(tmp_path / "results.csv").sort_values("si_snr_i", ascending=False,
                                                              kind="stable")
    keys = list(zip(frame["mixture_id"], frame["target"], strict=True))
    kept = json.loads((tmp_path / "examples" / "examples.json").read_text())["examples"]
    assert [(e["mixture_id"], e["target"]) for e in kept] == [keys[0], keys[4], keys[9]]
    assert [e["why"] for e in kept] == [f"{w} SI-SNRi of all 10 scored targets"
                                        for w in ("best", "median", "worst")]
    wavs = sorted((tmp_path / "examples").glob("*.wav"))
    assert sorted(w.name for w in wavs) == sorted(e["file"] for e in kept)
    before = wavs[0].read_bytes()
    wavs[0].unlink()
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",),
             save_audio=3, quiet=True)
    assert wavs[0].read_bytes() == before


def test_unprocessed_mixture_has_zero_improvement(corpus: Path, tmp_path: Path) -> None:
    evaluate("mixture", None, corpus, out_dir=tmp_path, metrics=METRICS, quiet=True)
    frame = pd.read_csv(tmp_path / "results.csv")
    assert frame["si_snr_i"].abs().max() < 1e-9 and frame["sdr_i"].abs().max() < 1e-9


def test_interrupted_evaluation_resumes_to_identical_csv(corpus: Path, checkpoint: Path,
                                                         tmp_path: Path, monkeypatch) -> None:
    from avss_bench.evaluate import run

    monkeypatch.setattr(run, "CHUNK", 4)  # 10 targets: chunks of 4, 4 and 2
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path / "full", metrics=METRICS,
             quiet=True)
    resumed = tmp_path / "resumed"
    interrupt_scoring_after(monkeypatch, 1, lambda: evaluate(
        "tiny-av", checkpoint, corpus, out_dir=resumed, metrics=METRICS, quiet=True))
    assert len(list((resumed / ".partial").glob("part-*.csv"))) == 1
    assert not (resumed / "results.csv").exists()
    evaluate("tiny-av", checkpoint, corpus, out_dir=resumed, metrics=METRICS, quiet=True)
    assert (resumed / "results.csv").read_bytes() == (tmp_path / "full/results.csv").read_bytes()
    assert not (resumed / ".partial").exists()


@pytest.mark.slow
def test_two_rank_evaluation_merges_to_the_one_rank_csv(corpus: Path, checkpoint: Path,
                                                        tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["evaluate", "--model", "tiny-av", "--checkpoint", str(checkpoint), "--data",
              str(corpus), "--metrics", ",".join(METRICS), "--quiet", "--device", "cpu"]
    one = subprocess.run([sys.executable, "-m", "avss_bench.cli", *common, "--out",
                          str(tmp_path / "one")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                          "2", "--master_port", str(29600 + os.getpid() % 1000), "-m",
                          "avss_bench.cli", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "two/results.csv").read_bytes() == (
        tmp_path / "one/results.csv").read_bytes()
    summary = json.loads((tmp_path / "two/summary.json").read_text())
    assert summary["world_size"] == 2 and summary["num_targets"] == 10


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt2") / "tiny.pt", seed=1)


def test_results_keep_every_failure_reason(corpus: Path, tmp_path: Path) -> None:
    evaluate(f"{HERE}:SilentSeparator", None, corpus, out_dir=tmp_path, metrics=METRICS,
             quiet=True)
    frame = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)
    for column in ("si_snr_error", "si_snr_i_error", "sdr_i_error", "stoi_error"):
        assert set(frame[column]) == {"silent estimate"}, column


def test_summary_carries_the_full_stamp(corpus: Path, checkpoint: Path, tmp_path: Path) -> None:
    summary = evaluate(None, checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",),
                       quiet=True, lip_rows=50, name="Tiny (mine)")
    assert summary["kind"] == "evaluate" and summary["model"] == "tiny-av"  # from the checkpoint
    provenance = summary["provenance"]
    assert provenance["options"]["lip_rows"] == 50 and summary["lip_rows"] == 50
    assert summary["name"] == "Tiny (mine)" and summary["random_init"] is False
    commit = provenance["git_commit"]
    assert commit is None or len(commit.removesuffix("-dirty")) == 40
    assert "torch" in provenance["library_versions"] and provenance["platform"]
    assert summary["stamp"]["data"]["manifest_sha256"]
    assert summary["num_mixtures"] == 5 and summary["num_targets"] == 10
    # prepared without a test-set record: computed from the manifest, a given list
    assert summary["test_set"]["kind"] == "given"
    assert summary["dataset"] == summary["test_set"]["label"]


def test_checkpoint_of_another_separator_is_refused(corpus: Path, checkpoint: Path,
                                                    tmp_path: Path) -> None:
    with pytest.raises(AvssError, match="this checkpoint is for separator 'tiny-av', not "
                                        "'mixture'"):
        evaluate("mixture", checkpoint, corpus, out_dir=tmp_path, quiet=True)


def test_contract_broken_on_the_first_batch_names_the_model(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(AvssError, match=r"ChannelSeparator' broke the Separator contract: "
                                        r"returned shape \[1, 1, 16000\], expected \[B, T\] = "
                                        r"\[1, 16000\]"):
        evaluate(f"{HERE}:ChannelSeparator", None, corpus, out_dir=tmp_path / "a", quiet=True)
    with pytest.raises(AvssError, match="16000 non-finite values"):
        evaluate(f"{HERE}:NanSeparator", None, corpus, out_dir=tmp_path / "b", quiet=True)
    assert not (tmp_path / "b/results.partial.csv").exists()


def test_trainable_separator_without_checkpoint_needs_random_init(corpus: Path,
                                                                  tmp_path: Path) -> None:
    with pytest.raises(AvssError, match="no --checkpoint was given; pass --random-init"):
        evaluate("tiny-av", None, corpus, out_dir=tmp_path, quiet=True, enc_channels=16,
                 hidden=32, num_blocks=1, repeats=1, video_channels=8)
    summary = evaluate("tiny-av", None, corpus, out_dir=tmp_path, metrics=("si_snr",),
                       quiet=True, random_init=True, enc_channels=16, hidden=32, num_blocks=1,
                       repeats=1, video_channels=8)
    assert summary["random_init"] is True


def test_another_checkpoint_never_resumes_a_partial_csv(corpus: Path, checkpoint: Path,
                                                        other_checkpoint: Path,
                                                        tmp_path: Path) -> None:
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)
    lines = (tmp_path / "results.csv").read_text().splitlines(keepends=True)
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "part-00000000.csv").write_text("".join(lines[:4]))
    with pytest.raises(AvssError, match="checkpoint_sha256 was"):
        evaluate("tiny-av", other_checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",),
                 quiet=True)
    with pytest.raises(AvssError, match=r"options.metrics was \["):
        evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("sdr",), quiet=True)
    summary = evaluate("tiny-av", other_checkpoint, corpus, out_dir=tmp_path,
                       metrics=("si_snr",), quiet=True, overwrite=True)
    fresh = evaluate("tiny-av", other_checkpoint, corpus, out_dir=tmp_path / "fresh",
                     metrics=("si_snr",), quiet=True)
    assert summary["metrics"] == fresh["metrics"]
    assert (tmp_path / "results.csv").read_bytes() == (tmp_path / "fresh/results.csv").read_bytes()


def test_changed_data_files_are_not_resumed(tmp_path: Path, checkpoint: Path) -> None:
    data = make_prepared_corpus(tmp_path / "c", {"tt": 2}, seconds=1.0)
    evaluate("tiny-av", checkpoint, data, out_dir=tmp_path / "r", metrics=("si_snr",),
             quiet=True)
    mix = next((data / "wav16k").rglob("*.wav")) if (data / "wav16k").exists() else \
        next(p for p in data.rglob("*.wav"))
    os.utime(mix, ns=(mix.stat().st_atime_ns, mix.stat().st_mtime_ns + 10**9))
    with pytest.raises(AvssError, match="data.files was"):
        evaluate("tiny-av", checkpoint, data, out_dir=tmp_path / "r", metrics=("si_snr",),
                 quiet=True)


def test_a_second_model_does_not_keep_the_first_models_profile(corpus: Path, checkpoint: Path,
                                                              tmp_path: Path) -> None:
    from avss_bench.evaluate.profile import profile_separator

    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)
    profile = profile_separator("tiny-av", seconds=0.2, runs=0, checkpoint=str(checkpoint))
    (tmp_path / "profile.json").write_text(json.dumps(profile.to_json()))
    # same model and checkpoint: the profile is kept and the run resumes (nothing to do)
    evaluate("tiny-av", checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)
    with pytest.raises(AvssError, match="model_target was"):
        evaluate("mixture", None, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)
    evaluate("mixture", None, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True,
             overwrite=True)
    assert not (tmp_path / "profile.json").exists()
    (tmp_path / "profile.json").write_text(json.dumps(profile.to_json()))
    with pytest.raises(AvssError, match="profile of another model: measured "
                                        "avss_bench.models.separators.tiny"):
        evaluate("mixture", None, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)


def test_the_summary_records_the_prepared_test_set_and_prints_a_short_table(
        corpus: Path, tmp_path: Path) -> None:
    """A record beside the manifest (as `prepare` writes it) is what the summary names; the
    CLI prints the test set and one line per metric, --json the summary itself."""
    import shutil

    from click.testing import CliRunner

    from avss_bench.cli import main
    from avss_bench.io.testset import TestSet, write_test_set

    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    record = TestSet("f" * 64, "demo", "tt", "generated", 5, 2,
                     "Demo, generated list (seed 0), 5 mixtures", {"seed": 0})
    write_test_set(data / "manifests" / "tt.csv", record)
    result = CliRunner().invoke(main, ["evaluate", "-m", "mixture", "-d", str(data), "-o",
                                       str(tmp_path / "out"), "--metrics", "si_snr", "-q"])
    out = tmp_path / "out"  # -q: one line saying where the results went
    assert result.exit_code == 0
    assert result.output == f"wrote {out / 'results.csv'} and {out / 'summary.json'}\n"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["test_set"] == record.to_json()
    assert summary["dataset"] == "Demo, generated list (seed 0), 5 mixtures"
    shown = CliRunner().invoke(main, ["evaluate", "-m", "mixture", "-d", str(data), "-o",
                                      str(tmp_path / "out"), "--metrics", "si_snr"])
    lines = shown.stdout.strip().splitlines()
    assert lines[0] == ("Test set: Demo, generated list (seed 0), 5 mixtures (generated list; "
                        "5 mixtures, fingerprint ffffffffffff)")
    assert lines[3].split()[:2] == ["SI-SNRi", "(dB)"] and lines[3].split()[-2:] == ["10", "0"]
    as_json = CliRunner().invoke(main, ["evaluate", "-m", "mixture", "-d", str(data), "-o",
                                        str(tmp_path / "out"), "--metrics", "si_snr", "--json"])
    assert json.loads(as_json.stdout)["test_set"]["label"] == record.label


def test_cli_errors_are_one_line(corpus: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from avss_bench.cli import main

    result = CliRunner().invoke(main, ["evaluate", "--model", "tiny-av", "--data", str(corpus),
                                       "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "avss-bench: error: 'tiny-av' has trainable weights but no --checkpoint was given; "
        "pass --random-init to evaluate randomly initialised weights"]
    result = CliRunner().invoke(main, ["evaluate", "--data", str(corpus), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--model is needed when no --checkpoint" in result.output
    # a metric typo stops while the options are read: no model loaded, nothing written
    result = CliRunner().invoke(main, ["evaluate", "-m", "tiny-av", "-d", str(corpus), "-o",
                                       str(tmp_path / "typo"), "--metrics", "si_snr,sdrr"])
    assert result.exit_code == 2 and "unknown metric(s) sdrr; choose from si_snr" in result.output
    assert not (tmp_path / "typo").exists()


def test_profile_made_before_the_evaluation_is_kept_when_it_matches(corpus: Path,
                                                                    checkpoint: Path,
                                                                    tmp_path: Path) -> None:
    from avss_bench.evaluate.profile import profile_separator

    profile = profile_separator(None, seconds=0.2, runs=0, checkpoint=str(checkpoint))
    (tmp_path / "profile.json").write_text(json.dumps(profile.to_json()))
    evaluate(None, checkpoint, corpus, out_dir=tmp_path, metrics=("si_snr",), quiet=True)
    assert json.loads((tmp_path / "profile.json").read_text())["model"] == "tiny-av"
    other = tmp_path / "other"
    other.mkdir()
    (other / "profile.json").write_text(json.dumps(profile.to_json()))
    with pytest.raises(AvssError, match="profile of another model"):
        evaluate("mixture", None, corpus, out_dir=other, metrics=("si_snr",), quiet=True)


class HalfSeparator(torch.nn.Module):
    """Returns half the mixture whatever the lips: it leaks 20 log10(0.5) = -6.02 dB."""

    config: dict = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * mixture


def test_target_absent_leak_is_output_to_mixture_energy(corpus: Path, tmp_path: Path) -> None:
    """A manifest with an absent face (prepare --target-absent) gets absent.csv: the leak of
    the separator given a silent face's lips, 10 log10(E_out / E_mix)."""
    import shutil

    from avss_bench.io.manifest import read_manifest, write_manifest

    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    manifest = data / "manifests" / "tt.csv"
    frame = read_manifest(manifest)
    frame["absent_utt"] = list(frame["s2_utt"].iloc[1:]) + [frame["s2_utt"].iloc[0]]
    frame["absent_lips"] = list(frame["s2_lips"].iloc[1:]) + [frame["s2_lips"].iloc[0]]
    write_manifest(frame, manifest)
    summary = evaluate(f"{HERE}:HalfSeparator", None, data, out_dir=tmp_path / "out",
                       metrics=("si_snr",), quiet=True)
    leak = pd.read_csv(tmp_path / "out" / "absent.csv")
    assert len(leak) == len(frame)
    assert leak["leak_db"].to_numpy() == pytest.approx(20 * np.log10(0.5), abs=1e-4)
    assert summary["target_absent_leak_db"]["n"] == len(frame)
    assert summary["target_absent_leak_db"]["mean"] == pytest.approx(-6.0206, abs=1e-3)
