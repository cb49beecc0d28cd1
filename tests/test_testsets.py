"""Test-set identity: the shipped official fingerprints, and what `prepare` calls each split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_data import SHARED_DATA

from avss_bench.cli import main
from avss_bench.corpora.registry import corpora
from avss_bench.corpora.testsets import manifest_test_set
from avss_bench.io.testset import (
    TestSet,
    canonical_line,
    condition_of,
    fingerprint_of,
    read_test_set,
)
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.mixlist import parse_mix_list

MIXLISTS = SHARED_DATA / "mixlists"
LRS2 = SHARED_DATA / "corpus" / "lrs2"
FOLDERS = {"lrs2": "LRS2", "lrs3": "LRS3", "vox2": "Vox2"}


def _list_fingerprint(corpus: str, path: Path) -> str:
    lines = parse_mix_list(path, corpora.get(corpus).utt_pattern)
    return fingerprint_of(canonical_line(line.utts, line.gains_db) for line in lines)


@pytest.mark.parametrize("corpus", ["lrs2", "lrs3", "vox2"])
def test_shipped_fingerprints_are_those_of_the_official_lists(corpus: str) -> None:
    cls = corpora.get(corpus)
    lists = sorted((MIXLISTS / FOLDERS[corpus]).glob("mix_2_spk_*.scp"))
    assert {p.stem.rsplit("_", 1)[1] for p in lists} == set(cls.official_fingerprints)
    for path in lists:
        split = path.stem.rsplit("_", 1)[1]
        assert _list_fingerprint(corpus, path) == cls.official_fingerprints[split], path
    assert cls.benchmark == {"lrs2": "LRS2-2Mix", "lrs3": "LRS3-2Mix",
                             "vox2": "VoxCeleb2-2Mix"}[corpus]


def test_fingerprint_is_content_not_paths_order_or_spelling(tmp_path: Path) -> None:
    official = (MIXLISTS / "LRS2" / "mix_2_spk_tt.scp").read_text().splitlines()
    # other paths, gains written with a trailing zero, lines in reverse order: the same set
    respelt = [" ".join(f"/elsewhere/{c.rsplit('/', 1)[1]}" if i % 2 == 0 else f"{c}0"
                        for i, c in enumerate(line.split()))
               for line in reversed(official)]
    (tmp_path / "a.scp").write_text("\n".join(respelt) + "\n")
    assert _list_fingerprint("lrs2", tmp_path / "a.scp") == \
        corpora.get("lrs2").official_fingerprints["tt"]
    (tmp_path / "b.scp").write_text("\n".join(official[:-1]) + "\n")
    assert _list_fingerprint("lrs2", tmp_path / "b.scp") != \
        corpora.get("lrs2").official_fingerprints["tt"]


def _prepare_tt(out: Path, **kw) -> TestSet:
    prepare_corpus("lrs2", LRS2, out, splits=["tt"], skip_lips=True, quiet=True, **kw)
    record = read_test_set(out / "manifests" / "tt.csv")
    assert record is not None
    return record


def test_prepare_names_each_list_for_what_it_is(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    given = _prepare_tt(tmp_path / "given", mix_list=LRS2)
    assert (given.kind, given.label) == ("given", "LRS2, given list, 5 of 5 mixtures")
    assert given.details["source"] == "mix_2_spk_tt.scp"  # its name; report.json has the path
    generated = _prepare_tt(tmp_path / "generated", mix_list="generate",
                            num_mixtures={"tt": 2}, seed=1)
    assert (generated.kind, generated.label) == (
        "generated", "LRS2, generated list (seed 1), 2 mixtures")
    assert generated.details["seed"] == 1 and "gain2 = -gain1" in generated.details["law"]
    # the official list from a pre-filled cache: 5 of its 3000 lines are in the miniature
    cache = tmp_path / "cache" / "mixlists" / "lrs2"
    cache.mkdir(parents=True)
    shutil.copy(MIXLISTS / "LRS2" / "mix_2_spk_tt.scp", cache)
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    partial = _prepare_tt(tmp_path / "partial", mix_list="official")
    assert (partial.kind, partial.label) == (
        "subset", "LRS2, 5 of 3000 mixtures of the official LRS2-2Mix test list")
    assert partial.details["of_fingerprint"] == corpora.get("lrs2").official_fingerprints["tt"]
    # same five mixtures, however the list came: one fingerprint; the labels differ
    assert partial.fingerprint == given.fingerprint
    report = json.loads((tmp_path / "partial" / "report.json").read_text())
    assert report["test_sets"]["tt"]["label"] == partial.label


def test_a_manifest_without_a_record_is_the_official_set_when_its_content_is(
        tmp_path: Path) -> None:
    """A hand-made manifest of the whole official LRS2 test list (content only, no audio) is
    the official test set: its fingerprint is the shipped one."""
    import pandas as pd

    lines = parse_mix_list(MIXLISTS / "LRS2" / "mix_2_spk_tt.scp", r"\d+_\d{5}")
    frame = pd.DataFrame([{"mixture_id": line.name, "s1_utt": line.s1_utt,
                           "s1_gain_db": line.gain1_db, "s2_utt": line.s2_utt,
                           "s2_gain_db": line.gain2_db} for line in lines])
    frame.to_csv(tmp_path / "tt.csv", index=False)
    records = pd.read_csv(tmp_path / "tt.csv", dtype={"s1_utt": str, "s2_utt": str})
    test_set = manifest_test_set(tmp_path / "tt.csv", records.to_dict("records"))
    assert (test_set.kind, test_set.label, test_set.corpus) == ("official", "LRS2-2Mix", "lrs2")
    zero = condition_of(test_set, {"spec": "zero:30", "seed": 0})
    assert zero.kind == "condition" and zero.base_fingerprint == test_set.fingerprint
    assert zero.label == "LRS2-2Mix + visual zero:30, seed 0" and not zero.is_official


def test_prepare_exits_1_when_a_requested_split_is_empty(tmp_path: Path) -> None:
    """The miniature's only cv mixture needs a 0.9 s clip: at --min-source-seconds 1 the split
    is empty, which is an error (the outputs are still written)."""
    out = tmp_path / "cv"
    result = CliRunner().invoke(main, [
        "prepare", "lrs2", "--root", str(LRS2), "--out", str(out), "--mix-list", str(LRS2),
        "--splits", "cv", "--skip-lips", "--min-source-seconds", "1", "--quiet"])
    assert result.exit_code == 1
    assert "error: cv: no mixture" in result.output and "1 data error(s)" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["sanity"]["counts"]["error"] == {"empty split": 1}
    assert (out / "manifests" / "cv.csv").is_file()
    validate = CliRunner().invoke(main, ["validate", str(out), "--no-lips", "--quiet"])
    assert validate.exit_code == 1 and "cv: empty split" in validate.output
