"""`prepare_corpus` end to end on the shared LRS2/LRS3/VoxCeleb2 miniatures (with their own lists).

Covers: the LRS2 mixing reference reproduced from the corpus itself, bad items skipped with
reasons and their mixtures dropped, all three recipes with lip ROIs, resume (rerun, damaged
output, kill -9), --jobs, --shard/--merge, generated lists, the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from shared_data import SHARED_DATA as SHARED
from shared_data import other_problems

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.io.audio import read_audio
from avss_bench.io.manifest import MANIFEST_COLUMNS, read_manifest
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.validate import validate_prepared

CORPUS = SHARED / "corpus"
MIXING = SHARED / "mixing"
LANDMARKER = SHARED / "models" / "face_landmarker.task"

# what each miniature's bad items must produce: utterance -> (stage, words in the reason)
BAD_ITEMS = {
    "lrs2": {"6011856429906274513_00004": ("sources", "silent"),
             "6312077425533871019_00009": ("sources", "cannot decode"),
             "5987233190117823115_00001": ("lips", "no face")},
    "lrs3": {"b7GdWx0pLcM_50004": ("sources", "truncated"),
             "k0JmRt6yHbE_50006": ("sources", "silent"),
             "Pw5sNe1uTqA_50001": ("lips", "no face")},
    "vox2": {"id04864_Ae7pZr2kQ_4_00009": ("sources", "silent"),
             "id05531_Ge4hT9mWx1o_00061": ("lips", "undecodable video"),
             "id06209_Rk2_dLw8QpZ_00002": ("lips", "no face")},
}
WRITTEN = {"lrs2": {"tr": 4, "cv": 1, "tt": 5}, "lrs3": {"tr": 2, "cv": 0, "tt": 5},
           "vox2": {"tr": 4, "cv": 3, "tt": 3}}
# the miniatures' own data problems: LRS2's first test mixture is two clips cut from one
# soundtrack (the debate video), LRS3's cv list names only bad items
SAME_RECORDING_PROBLEM = (
    "tt.csv row 1 (6355861826787125225_00011_0.5368_6382618614178237455_00017_-0.5368): same "
    "recording: s1 and s2 (6355861826787125225_00011, 6382618614178237455_00017) are the same "
    "recording: waveform correlation 1.000 >= 0.9")
DATA_PROBLEMS = {"lrs2": [SAME_RECORDING_PROBLEM],
                 "lrs3": ["cv: empty split: no mixture: every listed mixture was dropped "
                          "(report.json: dropped), or the list is empty"],
                 "vox2": []}


def run(corpus: str, out: Path, **kw) -> dict:
    kw.setdefault("mix_list", CORPUS / corpus)
    kw.setdefault("landmarker", LANDMARKER)
    kw.setdefault("quiet", True)
    return prepare_corpus(corpus, CORPUS / corpus, out, **kw)


def tree_hashes(out: Path) -> dict[str, str]:
    """sha256 of every output file (report.json and shard reports differ by their timings)."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel != "report.json" and not rel.startswith("shards/"):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def with_lips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each miniature prepared once with lip ROIs (MediaPipe), shared by several tests."""
    outs = {}
    for corpus in ("lrs2", "lrs3", "vox2"):
        out = tmp_path_factory.mktemp(corpus) / "out"
        run(corpus, out, jobs=2)
        outs[corpus] = out
    return outs


def test_lrs2_reproduces_the_mixing_reference_from_the_corpus(tmp_path: Path) -> None:
    """Without lips the LRS2 lists give exactly the reference's mixtures (decoding the mp4s:
    <= 8 LSB, SNR >= 80 dB), and exactly the reference's excluded lines are dropped."""
    report = run("lrs2", tmp_path, skip_lips=True)
    for split in ("tr", "cv", "tt"):
        expected = json.loads((MIXING / split / "expected.json").read_text())
        frame = read_manifest(tmp_path / "manifests" / f"{split}.csv")
        assert sorted(frame["mixture_id"]) == sorted(m["name"] for m in expected["mixtures"])
        dropped = {d["line"] for d in report["dropped"] if d["split"] == split}
        excluded = {e["index"] for e in expected.get("excluded_lines", [])}
        if split == "cv":
            excluded.add(0)  # the undecodable mp4 (the .m aborts the whole run there)
        assert dropped == excluded
        for m in expected["mixtures"]:
            for kind in ("mix", "s1", "s2"):
                ours = read_audio(tmp_path / "wav16k" / "min" / split / kind / f"{m['name']}.wav",
                                  dtype="int16")
                ref = read_audio(MIXING / m["files"][kind], dtype="int16")
                assert ours[1] == 16000 and ours[0].shape == ref[0].shape
                err = ours[0].astype(float) - ref[0]
                assert np.max(np.abs(err)) <= 8
                assert 10 * np.log10(np.sum(ref[0].astype(float) ** 2) / max(
                    np.sum(err ** 2), 1e-12)) >= 80
    cv = read_manifest(tmp_path / "manifests" / "cv.csv")
    assert cv["num_samples"].tolist() == [14336]  # the short clip 'min'-truncates its mixture
    assert [w["utt"] for w in report["warnings"]] == ["6325910842190313542_00001"]
    assert validate_prepared(tmp_path, quiet=True).problems == [SAME_RECORDING_PROBLEM]


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["lrs2", "lrs3", "vox2"])
def test_recipe_end_to_end_with_lips(corpus: str, with_lips: dict[str, Path]) -> None:
    out = with_lips[corpus]
    report = json.loads((out / "report.json").read_text())
    skipped = {s["utt"]: s for s in report["skipped"]}
    assert set(skipped) == set(BAD_ITEMS[corpus])
    for utt, (stage, words) in BAD_ITEMS[corpus].items():
        assert skipped[utt]["stage"] == stage and words in skipped[utt]["reason"], skipped[utt]
    for d in report["dropped"]:  # every dropped mixture names a bad item
        assert any(utt in d["reason"] for utt in BAD_ITEMS[corpus]), d
    assert {s: c["written"] for s, c in report["counts"].items()} == WRITTEN[corpus]
    for split, n in WRITTEN[corpus].items():
        frame = read_manifest(out / "manifests" / f"{split}.csv")
        assert len(frame) == n
        assert list(frame.columns[:len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
        for row in frame.itertuples():
            for k in (1, 2):
                rel = getattr(row, f"s{k}_lips")
                assert rel == f"../lips/{getattr(row, f's{k}_utt')}.npz"
                data = np.load(out / "manifests" / rel)["data"]
                assert data.dtype == np.uint8 and data.shape[1:] == (96, 96)
                # the lips cover the source's own 2 s (or less): 25 fps, +-1 frame
                source = getattr(row, f"s{k}_source_samples")
                assert abs(data.shape[0] - round(source * 25 / 16000)) <= 1
                assert data.shape[0] == getattr(row, f"s{k}_lip_frames")
                assert data.shape[0] >= round(row.num_samples * 25 / 16000) - 1
                assert (CORPUS / corpus / getattr(row, f"s{k}_source")).is_file()
            assert row.s1_speaker != row.s2_speaker
    result = validate_prepared(out, quiet=True)
    assert result.problems == DATA_PROBLEMS[corpus]
    assert report["sanity"]["errors"] == len(DATA_PROBLEMS[corpus])


@pytest.mark.slow
def test_rerun_skips_everything_and_repairs_damage_to_the_same_bytes(
        with_lips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "lrs2"
    shutil.copytree(with_lips["lrs2"], out)
    before = tree_hashes(out)
    report = run("lrs2", out)
    assert tree_hashes(out) == before
    assert report["timings_s"]["lips"] < 2.0  # nothing recomputed
    # damage: a source, its status, a lip file, one file of a mixture, a manifest, a temp file
    lips = sorted((out / "lips").glob("*.npz"))
    lips[0].unlink()
    (out / ".status" / "audio" / "6355861826787125225_00011.json").unlink()
    (out / "raw_audio" / "6382618614178237455_00026.wav").unlink()
    mix = sorted((out / "wav16k" / "min" / "tt" / "s2").glob("*.wav"))[1]
    mix.write_bytes(mix.read_bytes()[:100])  # a torn file (cannot happen with renames)
    (out / "manifests" / "tr.csv").unlink()
    (out / "lips" / ".x.npz.tmphost-123").write_bytes(b"partial")
    run("lrs2", out)
    assert tree_hashes(out) == before


def _lrs3_tt(out: Path, **kw) -> dict:
    return run("lrs3", out, splits=["tt"], **kw)


@pytest.fixture(scope="module")
def lrs3_tt_clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lrs3tt") / "out"
    _lrs3_tt(out)
    return out


@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_gives_the_clean_bytes(
        lrs3_tt_clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    code = ("import sys; from avss_bench.cli import main; sys.argv[0] = 'avss-bench'; "
            "sys.exit(main())")
    args = [sys.executable, "-c", code, "prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
            "--out", str(out), "--mix-list", str(CORPUS / "lrs3"), "--splits", "tt",
            "--landmarker", str(LANDMARKER), "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / ".status" / "lips").glob("*.json"))) >= 1:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifests").exists(), "killed too late: the run had finished"
    _lrs3_tt(out)
    assert tree_hashes(out) == tree_hashes(lrs3_tt_clean)


@pytest.mark.slow
def test_shards_then_merge_equal_one_run_and_merge_refuses_missing_parts(
        lrs3_tt_clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    first = _lrs3_tt(out, shard="0/2")
    assert not (out / "manifests").exists()
    assert (out / "shards" / "report-0-of-2.json").is_file()
    with pytest.raises(AvssError, match="cannot merge: the shards have not finished"):
        _lrs3_tt(out, merge=True)
    second = _lrs3_tt(out, shard="1/2", jobs=2)
    handled = [r["counts"]["tt"]["handled_here"] for r in (first, second)]
    assert sum(handled) == 5 and min(handled) > 0
    report = _lrs3_tt(out, merge=True)
    assert report["counts"]["tt"]["written"] == 5
    assert tree_hashes(out) == tree_hashes(lrs3_tt_clean)
    with pytest.raises(AvssError, match="0 <= i < n"):
        _lrs3_tt(out, shard="2/2")


def test_jobs_give_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    run("vox2", tmp_path / "one", skip_lips=True)
    run("vox2", tmp_path / "two", skip_lips=True, jobs=2)
    assert tree_hashes(tmp_path / "one") == tree_hashes(tmp_path / "two")


def test_generated_lists_are_seeded_split_by_the_lrs2_lists_and_guarded(tmp_path: Path) -> None:
    sizes = {"tr": 6, "cv": 1, "tt": 3}
    a = run("lrs2", tmp_path / "a", mix_list="generate", num_mixtures=sizes, skip_lips=True)
    run("lrs2", tmp_path / "b", mix_list="generate", num_mixtures=sizes, skip_lips=True)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    assert all(a["lists"][s]["origin"] == "generated" for s in sizes)
    lrs2_lists = {s: {line.split()[0].replace("/", "_") for line in
                      (CORPUS / "lrs2" / f"{f}.txt").read_text().splitlines()}
                  for s, f in (("tr", "train"), ("cv", "val"), ("tt", "test"))}
    for split, n in sizes.items():
        text = (tmp_path / "a" / "lists" / f"mix_2_spk_{split}.scp").read_text()
        lines = [line.split() for line in text.splitlines()]
        assert len(lines) == n
        for p1, g1, p2, g2 in lines:
            u1, u2 = Path(p1).stem, Path(p2).stem
            assert {u1, u2} <= lrs2_lists[split] and u1.split("_")[0] != u2.split("_")[0]
            assert float(g2) == -float(g1) and 0 <= float(g1) < 5
    # the one cv mixture drawn needs the miniature's undecodable clip: an empty split
    assert other_problems(validate_prepared(tmp_path / "a", quiet=True).problems) == [
        "cv: empty split: no mixture: every listed mixture was dropped (report.json: dropped), "
        "or the list is empty"]
    assert [d["reason"] for d in a["dropped"] if d["split"] == "cv"] == [
        "s1 6312077425533871019_00009: cannot decode: Invalid data found when processing input"]
    with pytest.raises(AvssError, match="prepared with a different tr list"):
        run("lrs2", tmp_path / "a", mix_list="generate", num_mixtures=sizes, skip_lips=True,
            seed=1)
    with pytest.raises(AvssError, match="allow only"):
        run("lrs2", tmp_path / "c", mix_list="generate", num_mixtures={"cv": 50},
            splits=["cv"], skip_lips=True)


def test_short_sources_can_be_skipped_and_missing_utterances_are_reported(tmp_path: Path) -> None:
    report = run("lrs2", tmp_path / "short", splits=["cv"], skip_lips=True,
                 min_source_seconds=1.0)
    reasons = {s["utt"]: s["reason"] for s in report["skipped"]}
    assert reasons["6325910842190313542_00001"].startswith("too short: 0.896 s")
    assert report["counts"]["cv"]["written"] == 0
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "mix_2_spk_tt.scp").write_text(
        "x/6355861826787125225_00011.wav 1.5 x/6382618614178237455_00026.wav -1.5\n"
        "x/6355861826787125225_00099.wav 1.5 x/6382618614178237455_00026.wav -1.5\n")
    report = run("lrs2", tmp_path / "missing", mix_list=lists, splits=["tt"], skip_lips=True)
    assert report["counts"]["tt"] == {"listed": 2, "handled_here": 2, "written": 1, "dropped": 1}
    assert report["dropped"][0]["reason"] == "s1 6355861826787125225_00099: not found in the corpus"


def test_cli_prepare_then_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(main, ["prepare", "lrs3", "--root", str(CORPUS / "lrs3"), "--out",
                                  str(out), "--mix-list", str(CORPUS / "lrs3"), "--splits",
                                  "tt,tr", "--skip-lips", "--num-mixtures", "tr=3"])
    assert result.exit_code == 0, result.output
    assert "tt: 5 mixtures written" in result.output
    assert "skipped k0JmRt6yHbE_50006 (sources): silent audio" in result.output
    assert len(pd.read_csv(out / "manifests" / "tr.csv")) <= 3
    result = runner.invoke(main, ["validate", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    result = runner.invoke(main, ["prepare", "lrs3", "--root", str(tmp_path), "--out",
                                  str(out)])
    assert result.exit_code == 1 and "not an LRS3 root" in result.output
    result = runner.invoke(main, ["prepare", "--help"])
    assert all(name in result.output for name in ("lrs2", "lrs3", "vox2"))


def test_official_lists_from_the_cache_apply_verbatim_to_the_miniature(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LRS2 miniature's tt list is 5 official lines: `--mix-list official` (served from a
    pre-filled cache, no download) writes those 5 and reports the other 2,995 as not found."""
    official = SHARED / "mixlists" / "LRS2" / "mix_2_spk_tt.scp"
    cache = tmp_path / "cache" / "mixlists" / "lrs2"
    cache.mkdir(parents=True)
    shutil.copy(official, cache)
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    report = run("lrs2", tmp_path / "out", mix_list="official", splits=["tt"], skip_lips=True)
    assert report["lists"]["tt"]["origin"] == "official"
    assert report["counts"]["tt"]["written"] == 5 and report["counts"]["tt"]["dropped"] == 2995
    assert all(d["reason"].endswith("not found in the corpus") for d in report["dropped"])
    lines = [line.split() for line in (CORPUS / "lrs2" / "mix_2_spk_tt.scp").read_text()
             .splitlines()]
    written = read_manifest(tmp_path / "out" / "manifests" / "tt.csv")
    assert sorted(zip(written["s1_utt"], written["s1_gain_db"], strict=True)) == sorted(
        (Path(p1).stem, float(g1)) for p1, g1, _, _ in lines)
    assert (tmp_path / "out" / "lists" / "mix_2_spk_tt.scp").read_bytes() == official.read_bytes()
