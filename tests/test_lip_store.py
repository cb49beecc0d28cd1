"""The mouth-ROI store: a corpus variant prepared from the same clips reuses the crops bit for
bit without decoding or tracking again; failures are reused too; a damaged entry is a miss;
the key changes with the clip bytes, the landmarker and the ROI parameters."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from shared_data import SHARED_DATA, other_problems

import avss_bench.lips
from avss_bench.corpora.registry import get_corpus
from avss_bench.lips.store import ENV_VAR, LipStore, entry_key, resolve_store
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.conditions import Conditions
from avss_bench.prepare.lip_rois import lips_batch
from avss_bench.prepare.validate import validate_prepared

CORPUS = SHARED_DATA / "corpus"
LANDMARKER = SHARED_DATA / "models" / "face_landmarker.task"
NOISE = SHARED_DATA / "noise" / "speechbrain"


def prepare(out: Path, store: Path | str, **kw) -> dict:
    return prepare_corpus("lrs2", CORPUS / "lrs2", out, mix_list=CORPUS / "lrs2",
                          splits=["tt"], landmarker=LANDMARKER, quiet=True,
                          lips_store=store, **kw)


def lip_hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "lips").glob("*.npz"))}


class NoExtraction:
    """Stands in for MouthRoiExtractor: any use of it fails the test."""

    def __init__(self, *args, **kwargs) -> None:
        raise AssertionError("a stored clip was decoded and tracked again")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The LRS2 miniature's tt split prepared with lips into a fresh store."""
    root = tmp_path_factory.mktemp("store")
    store, out = root / "store", root / "clean"
    report = prepare(out, store)
    return store, out, report


@pytest.mark.slow
def test_noisy_variant_reuses_every_crop_bit_for_bit(
        clean: tuple[Path, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, out, report = clean
    stored = list(store.rglob("*.json"))
    assert lip_hashes(out) and len(stored) == len(lip_records(out))  # failures stored too
    wham = tmp_path / "noise"
    x, rate = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    for split in ("tr", "cv", "tt"):
        (wham / "wham_noise" / split).mkdir(parents=True)
        sf.write(str(wham / "wham_noise" / split / f"{split}_noise.wav"), x, rate,
                 subtype="PCM_16")
    monkeypatch.setattr(avss_bench.lips, "MouthRoiExtractor", NoExtraction)
    noisy = tmp_path / "noisy"
    variant = prepare(noisy, store, conditions=Conditions(noise_dir=str(wham)))
    assert lip_hashes(noisy) == lip_hashes(out)
    assert variant["utterances"] == report["utterances"]
    assert variant["counts"] == report["counts"]
    assert variant["timings_s"]["lips"] < report["timings_s"]["lips"]
    result = validate_prepared(noisy, quiet=True)
    assert result.rows and not other_problems(result.problems), result.problems


def lip_records(out: Path) -> list[Path]:
    return sorted((out / ".status" / "lips").glob("*.json"))


@pytest.mark.slow
def test_damaged_entries_are_misses_and_off_means_no_store(
        clean: tuple[Path, Path, dict], tmp_path: Path) -> None:
    store, out, _ = clean
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    npz = sorted(copy.rglob("*.npz"))
    npz[0].write_bytes(npz[0].read_bytes()[:-10])  # damaged: sha256 no longer matches
    npz[1].unlink()                                # a record without its crops
    again = tmp_path / "again"
    prepare(again, copy)
    assert lip_hashes(again) == lip_hashes(out)
    assert sorted(p.read_bytes() for p in copy.rglob("*.npz")) == sorted(
        p.read_bytes() for p in store.rglob("*.npz"))  # both entries rewritten, same bytes
    plain = tmp_path / "plain"
    prepare(plain, "off")
    assert lip_hashes(plain) == lip_hashes(out)


def test_a_clip_without_a_face_is_refused_again_from_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    utt = get_corpus("lrs2", CORPUS / "lrs2").locate("5987233190117823115_00001")
    args = (str(CORPUS / "lrs2"), [(utt, 32000)])
    first = lips_batch(*args, str(tmp_path / "a"), str(LANDMARKER), str(tmp_path / "store"))
    assert not first[0]["ok"] and "face" in first[0]["reason"]
    monkeypatch.setattr(avss_bench.lips, "MouthRoiExtractor", NoExtraction)
    again = lips_batch(*args, str(tmp_path / "b"), str(LANDMARKER), str(tmp_path / "store"))
    assert again == first


def test_key_depends_on_clip_landmarker_and_parameters() -> None:
    params = {"frames": 50, "lookahead": 11, "face": None}
    key = entry_key("a" * 64, "b" * 64, params)
    assert key == entry_key("a" * 64, "b" * 64, dict(params))
    assert len({key, entry_key("c" * 64, "b" * 64, params),
                entry_key("a" * 64, "c" * 64, params),
                entry_key("a" * 64, "b" * 64, {**params, "frames": 49}),
                entry_key("a" * 64, "b" * 64, {**params, "face": [0.5, 0.5]})}) == 5


def test_store_location_option_environment_and_round_trip(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_store(None).root == tmp_path / "env"
    assert resolve_store(tmp_path / "opt").root == tmp_path / "opt"
    assert resolve_store("off") is None
    monkeypatch.setenv(ENV_VAR, "off")
    assert resolve_store(None) is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    assert resolve_store(None).root == tmp_path / "cache" / "lips"
    store = LipStore(tmp_path / "s")
    assert store.get("ab" * 32) is None
    store.put("ab" * 32, {"ok": True, "frames": 3}, b"npz bytes")
    assert store.get("ab" * 32) == ({"ok": True, "frames": 3,
                                     "sha256": hashlib.sha256(b"npz bytes").hexdigest()},
                                    b"npz bytes")
    store.put("cd" * 32, {"ok": False, "reason": "no face detected in any frame"})
    assert store.get("cd" * 32) == ({"ok": False, "reason": "no face detected in any frame"},
                                    None)
