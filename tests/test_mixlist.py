"""Mixture lists: every official list parses and maps; generated lists follow the official law."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from shared_data import SHARED_DATA as SHARED

from avss_bench.core.errors import AvssError
from avss_bench.corpora.lrs2 import LRS2
from avss_bench.corpora.lrs3 import LRS3
from avss_bench.corpora.vox2 import VoxCeleb2
from avss_bench.prepare.mixlist import (
    format_mix_list,
    generate_mix_list,
    max_pairs,
    parse_mix_list,
    utterance_from_path,
)

MIXLISTS = SHARED / "mixlists"

# (corpus class, folder, split, lines, distinct utterances) as documented for the real lists
OFFICIAL = [
    (LRS2, "LRS2", "tr", 20000, 18691), (LRS2, "LRS2", "cv", 5000, 476),
    (LRS2, "LRS2", "tt", 3000, 267), (LRS3, "LRS3", "cv", 5000, 1482),
    (LRS3, "LRS3", "tt", 3000, 298), (VoxCeleb2, "Vox2", "cv", 10000, 5308),
    (VoxCeleb2, "Vox2", "tt", 2965, 5451),
]
GAIN = re.compile(r"\d\.\d{1,5}|\d")


@pytest.mark.parametrize(("corpus", "folder", "split", "lines", "utts"), OFFICIAL,
                         ids=[f"{f}-{s}" for _, f, s, _, _ in OFFICIAL])
def test_every_official_list_parses_and_maps(corpus, folder: str, split: str, lines: int,
                                             utts: int) -> None:
    path = MIXLISTS / folder / f"mix_2_spk_{split}.scp"
    parsed = parse_mix_list(path, corpus.utt_pattern)
    assert len(parsed) == lines
    assert len({u for line in parsed for u in (line.s1_utt, line.s2_utt)}) == utts
    regex = re.compile(corpus.utt_pattern)
    for line in parsed:
        for p, u in ((line.s1_path, line.s1_utt), (line.s2_path, line.s2_utt)):
            assert p.rsplit("/", 1)[-1] == f"{u}.wav" and regex.fullmatch(u)
        assert line.gain2 == "-" + line.gain1 and GAIN.fullmatch(line.gain1)
        assert 0 <= line.gain1_db < 5
    assert len({line.name for line in parsed}) == lines  # output names never collide
    assert len({frozenset((x.s1_utt, x.s2_utt)) for x in parsed}) == lines  # no repeated pair


def test_official_lists_map_to_corpus_paths_without_splitting_youtube_ids(tmp_path: Path) -> None:
    """Vox2 tt: 849 of its 5,451 utterances have '_' inside the YouTube id; all map correctly."""
    tt = parse_mix_list(MIXLISTS / "Vox2" / "mix_2_spk_tt.scp", VoxCeleb2.utt_pattern)
    utts = {u for line in tt for u in (line.s1_utt, line.s2_utt)}
    assert sum("_" in u[8:19] for u in utts) == 849
    # build a fake Vox2 tree holding a few of them and locate them by id
    sample = sorted(u for u in utts if "_" in u[8:19])[:5]
    for u in sample:
        spk, ytid, num = u[:7], u[8:19], u[20:]
        clip = tmp_path / "test" / "mp4" / spk / ytid / f"{num}.mp4"
        clip.parent.mkdir(parents=True, exist_ok=True)
        clip.write_bytes(b"")
    vox = VoxCeleb2(tmp_path)
    for u in sample:
        located = vox.locate(u)
        assert located is not None
        assert located.video == f"test/mp4/{u[:7]}/{u[8:19]}/{u[20:]}.mp4"
        assert located.speaker == u[:7]
    cv = parse_mix_list(MIXLISTS / "Vox2" / "mix_2_spk_cv.scp", VoxCeleb2.utt_pattern)
    assert sum(line.s1_utt[:7] == line.s2_utt[:7] for line in cv) == 99  # as documented
    assert {u for line in cv for u in (line.s1_utt, line.s2_utt)} <= utts


def test_utterance_from_path_keeps_underscores_and_dashes() -> None:
    vox = VoxCeleb2.utt_pattern
    assert utterance_from_path("/data/x/raw_audio/id04864_Ae7pZr2kQ_4_00007.wav", vox) \
        == "id04864_Ae7pZr2kQ_4_00007"
    assert utterance_from_path("raw/Ht9kLm2_aQs_00002.wav", LRS3.utt_pattern) == "Ht9kLm2_aQs_00002"
    assert utterance_from_path("../raw_audio/val/6312077425533871019_00005.wav",
                               LRS2.utt_pattern) == "6312077425533871019_00005"
    assert utterance_from_path("raw/short_00002.wav", LRS3.utt_pattern) is None


def test_malformed_lines_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "mix_2_spk_tt.scp"
    bad.write_text("a/6312077425533871019_00005.wav 1.2 b/6325910842190313542_00001.wav -1.2\n"
                   "a/6312077425533871019_00005.wav 1.2 b/6325910842190313542_00001.wav\n")
    with pytest.raises(AvssError, match=r"mix_2_spk_tt.scp: line 2: expected 4 columns"):
        parse_mix_list(bad, LRS2.utt_pattern)
    bad.write_text("a/6312077425533871019_00005.wav x b/6325910842190313542_00001.wav -1\n")
    with pytest.raises(AvssError, match="line 1: gain 'x' is not a number"):
        parse_mix_list(bad, LRS2.utt_pattern)
    bad.write_text("a/notanid.wav 1 b/6325910842190313542_00001.wav -1\n")
    with pytest.raises(AvssError, match="does not name an utterance"):
        parse_mix_list(bad, LRS2.utt_pattern)


def _pool(speakers: int, per_speaker: int) -> list[tuple[str, str]]:
    return [(f"spk{s:03d}_{u:05d}", f"spk{s:03d}") for s in range(speakers)
            for u in range(per_speaker)]


def test_generated_list_follows_the_official_law() -> None:
    pool = _pool(30, 7)
    lines = generate_mix_list(pool, 400, seed=3, path_format="../raw_audio/train/{utt}.wav")
    assert len(lines) == 400
    speaker = dict(pool)
    pairs = set()
    for line in lines:
        assert speaker[line.s1_utt] != speaker[line.s2_utt]
        pairs.add(frozenset((line.s1_utt, line.s2_utt)))
        assert line.s1_path == f"../raw_audio/train/{line.s1_utt}.wav"
        g = Decimal(line.gain1)
        assert Decimal(0) <= g < Decimal(5) and g == g.quantize(Decimal("0.00001"))
        assert str(g * 100000 // 1 / 100000) == line.gain1  # printed like str(Decimal/100000)
        assert Decimal(line.gain2) == -g
    assert len(pairs) == 400
    parsed = parse_mix_list("generated", r"spk\d{3}_\d{5}", text=format_mix_list(lines))
    assert [x.text() for x in parsed] == [x.text() for x in lines]


def test_generated_list_is_byte_identical_for_a_seed_and_independent_of_pool_order() -> None:
    pool = _pool(12, 5)
    a = format_mix_list(generate_mix_list(pool, 100, seed=7))
    b = format_mix_list(generate_mix_list(list(reversed(pool)), 100, seed=7))
    c = format_mix_list(generate_mix_list(pool, 100, seed=8))
    assert a == b
    assert a != c


def test_generation_refuses_impossible_sizes_and_fills_small_pools_exactly() -> None:
    pool = [("a_00001", "A"), ("a_00002", "A"), ("b_00001", "B"), ("c_00001", "C")]
    assert max_pairs([s for _, s in pool]) == 5
    lines = generate_mix_list(pool, 5, seed=0)
    assert len({frozenset((x.s1_utt, x.s2_utt)) for x in lines}) == 5
    with pytest.raises(AvssError, match="allow only 5 distinct"):
        generate_mix_list(pool, 6, seed=0)
