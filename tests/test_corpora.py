"""Corpus modules: registry, on-disk layouts of the miniatures, pools, official list fetching."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest
from shared_data import SHARED_DATA as SHARED

from avss_bench.core.errors import AvssError
from avss_bench.corpora import corpora, get_corpus
from avss_bench.corpora.lrs2 import LRS2
from avss_bench.corpora.lrs3 import LRS3
from avss_bench.corpora.vox2 import VoxCeleb2
from avss_bench.prepare.lists import fetch_official_list, resolve_lists

CORPUS = SHARED / "corpus"
MIXLISTS = SHARED / "mixlists"


def test_registry_lists_the_bundled_corpora() -> None:
    assert {"lrs2", "lrs3", "vox2"} <= set(corpora.names())
    assert corpora.get("lrs2") is LRS2 and corpora.get("vox2") is VoxCeleb2
    with pytest.raises(AvssError, match="unknown corpus 'timit'"):
        corpora.get("timit")


def test_layout_errors_are_one_line_and_name_the_root(tmp_path: Path) -> None:
    for name in ("lrs2", "lrs3", "vox2"):
        with pytest.raises(AvssError, match=f"{tmp_path}: not an? ") as info:
            get_corpus(name, tmp_path)
        assert "\n" not in str(info.value)
    with pytest.raises(AvssError, match="not a directory"):
        get_corpus("lrs2", tmp_path / "missing")


def test_lrs2_locates_main_clips_and_reads_its_split_lists() -> None:
    lrs2 = LRS2(CORPUS / "lrs2")
    u = lrs2.locate("6325910842190313542_00001")
    assert u is not None and u.video == "mvlrs_v1/main/6325910842190313542/00001.mp4"
    assert u.speaker == "6325910842190313542" and u.audio == u.video
    assert lrs2.locate("5791146224735093870_00001") is None  # only in pretrain/: not used
    assert lrs2.locate("1234_00001") is None
    test = [x.utt for x in lrs2.listed("tt")]  # test.txt has a second column (NF/MV)
    assert test == sorted(["6355861826787125225_00011", "6382618614178237455_00017",
                           "6382618614178237455_00026", "6374802632562566873_00011"])
    assert len(lrs2.listed("tr")) == 6 and len(lrs2.listed("cv")) == 3
    # --root may also be mvlrs_v1 itself
    inner = LRS2(CORPUS / "lrs2" / "mvlrs_v1")
    located = inner.locate("6325910842190313542_00001")
    assert located is not None and located.video == "main/6325910842190313542/00001.mp4"
    assert [x.utt for x in inner.listed("tt")] == test


def test_lrs3_ids_keep_underscores_and_pools_are_speaker_disjoint() -> None:
    lrs3 = LRS3(CORPUS / "lrs3")
    u = lrs3.locate("Ht9kLm2_aQs_00002")
    assert u is not None and u.subset == "pretrain" and u.speaker == "Ht9kLm2_aQs"
    assert lrs3.locate("ZJNESMhIxQ0_00016").video == "test/ZJNESMhIxQ0/00016.mp4"
    assert lrs3.locate("Zr3nQe8VtYk_50003").subset == "trainval"
    pools = lrs3.pools(["tr", "cv", "tt"], {}, seed=0)
    speakers = {split: {x.speaker for x in pool} for split, pool in pools.items()}
    assert speakers["tt"] == {"ZJNESMhIxQ0", "c64M1tZyWPM", "xTkKSJSqUSI"}
    assert len(speakers["cv"]) >= 2 and len(speakers["tr"]) >= 2
    assert not speakers["cv"] & speakers["tr"]
    assert not (speakers["cv"] | speakers["tr"]) & speakers["tt"]
    # a given cv list's talks are kept out of a generated tr
    pools = lrs3.pools(["tr"], {"cv": {"Zr3nQe8VtYk"}}, seed=0)
    assert "Zr3nQe8VtYk" not in {x.speaker for x in pools["tr"]}


def test_vox2_takes_audio_from_the_m4a_twin_and_trains_on_dev_identities() -> None:
    vox = VoxCeleb2(CORPUS / "vox2")
    u = vox.locate("id04864_Ae7pZr2kQ_4_00007")
    assert u is not None and u.speaker == "id04864" and u.subset == "dev"
    assert u.video == "dev/mp4/id04864/Ae7pZr2kQ_4/00007.mp4"
    assert u.audio == "dev/aac/id04864/Ae7pZr2kQ_4/00007.m4a"
    assert vox.locate("id04864_mT0-xWc5bNs_00103") is not None
    pools = vox.pools(["tr", "cv", "tt"], {}, seed=0)
    assert {x.subset for x in pools["tr"]} == {"dev"}
    assert {x.subset for x in pools["tt"]} == {"test"} and pools["cv"] == pools["tt"]
    assert len(vox.utterances()) == 12


def test_pinned_checksums_are_those_of_the_official_lists() -> None:
    for cls, folder in ((LRS2, "LRS2"), (LRS3, "LRS3"), (VoxCeleb2, "Vox2")):
        for split, entry in cls.official_lists.items():
            data = (MIXLISTS / folder / f"mix_2_spk_{split}.scp").read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry.sha256
            assert entry.url.endswith(f"/Datasets/{folder}/mix_2_spk_{split}.scp")
    assert set(LRS3.official_lists) == {"cv", "tt"} == set(VoxCeleb2.official_lists)


def test_official_lists_come_from_a_checked_cache_or_a_checked_download(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lrs3 = LRS3(CORPUS / "lrs3")
    official = (MIXLISTS / "LRS3" / "mix_2_spk_tt.scp").read_bytes()
    calls: list[str] = []

    def fake_urlopen(url: str, timeout: float = 0):  # noqa: ARG001
        calls.append(url)
        return io.BytesIO(payload[0])

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    # a download with the wrong content is refused and not cached
    payload = [b"tampered\n"]
    with pytest.raises(AvssError, match="refusing it"):
        fetch_official_list(lrs3, "tt", cache=tmp_path)
    assert not list(tmp_path.rglob("*.scp"))
    # the right content is accepted and cached; the second call does not download
    payload = [official]
    text, url = fetch_official_list(lrs3, "tt", cache=tmp_path)
    assert text.encode() == official and calls == [url, url]
    fetch_official_list(lrs3, "tt", cache=tmp_path)
    assert len(calls) == 2
    # no network: a clear error that says what to do
    shutil.rmtree(tmp_path / "mixlists")

    def offline(url: str, timeout: float = 0):  # noqa: ARG001
        raise OSError("no route to host")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(AvssError, match="pass --mix-list DIR"):
        fetch_official_list(lrs3, "tt", cache=tmp_path)


def test_official_mode_generates_the_splits_without_a_public_list(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "mixlists" / "lrs3"
    cache.mkdir(parents=True)
    for split in ("cv", "tt"):
        shutil.copy(MIXLISTS / "LRS3" / f"mix_2_spk_{split}.scp", cache)
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    lrs3 = LRS3(CORPUS / "lrs3")
    lists = resolve_lists(lrs3, "official", ["tr", "cv", "tt"], seed=0,
                          num_mixtures={"tr": 1})
    assert lists["tt"].origin == "official" and len(lists["tt"].lines) == 3000
    assert lists["cv"].origin == "official"
    assert lists["tr"].origin == "generated" and len(lists["tr"].lines) == 1
    # the miniature's trainval talks are all absent from the official cv, so tr may use them
    tr = lists["tr"].lines[0]
    assert {tr.s1_utt[:11], tr.s2_utt[:11]} <= {"Zr3nQe8VtYk", "b7GdWx0pLcM", "Pw5sNe1uTqA",
                                                 "k0JmRt6yHbE"}
