"""Corpus conditions built by `prepare` on the shared LRS2 miniature (skip_lips).

N speakers, real noise in a WHAM!-layout miniature, real RIRs in a RIRS_NOISES-layout
miniature, and target-absent mixtures: seeded reruns byte-identical, the noise law (mixture =
clean + noise within 1 LSB, requested SNR within 0.1 dB), the early-reflection reference, and
`validate` on every condition.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from shared_data import SHARED_DATA, assert_prepared, other_problems

from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.conditions import Conditions
from avss_bench.prepare.mixing import level_8k
from avss_bench.prepare.reverb import early_part
from avss_bench.prepare.validate import validate_prepared

LRS2 = SHARED_DATA / "corpus" / "lrs2"
NOISE = SHARED_DATA / "noise" / "speechbrain"


def build(out: Path, conditions: Conditions, n: int = 2) -> pd.DataFrame:
    prepare_corpus("lrs2", LRS2, out, mix_list="generate", splits=["tt"],
                   num_mixtures={"tt": n}, skip_lips=True, quiet=True, conditions=conditions)
    result = validate_prepared(out, quiet=True)
    assert other_problems(result.problems) == []
    return pd.read_csv(out / "manifests" / "tt.csv")


def hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "report.json"}


def read(manifest_dir: Path, rel: str) -> np.ndarray:
    return sf.read(str((manifest_dir / rel).resolve()), dtype="int16")[0].astype(np.int64)


def test_three_speakers_seeded_and_valid(tmp_path: Path) -> None:
    frame = build(tmp_path / "a", Conditions(speakers=3))
    build(tmp_path / "b", Conditions(speakers=3))
    assert hashes(tmp_path / "a") == hashes(tmp_path / "b")
    assert (tmp_path / "a" / "lists" / "mix_3_spk_tt.scp").is_file()
    assert len(frame) == 2
    for row in frame.itertuples():
        assert len({row.s1_speaker, row.s2_speaker, row.s3_speaker}) == 3
        assert row.s1_gain_db == -row.s2_gain_db


@pytest.fixture(scope="module")
def wham(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature WHAM! noise corpus: wham_noise/{tr,cv,tt}/<name>.wav from a real recording."""
    root = tmp_path_factory.mktemp("noise")
    x, rate = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    for split in ("tr", "cv", "tt"):
        (root / "wham_noise" / split).mkdir(parents=True)
        sf.write(str(root / "wham_noise" / split / f"{split}_noise.wav"), x, rate,
                 subtype="PCM_16")
    return root


def test_noise_at_the_requested_snr(tmp_path: Path, wham: Path) -> None:
    cond = Conditions(noise_dir=str(wham), snr_db=(-5.0, 5.0))
    frame = build(tmp_path / "a", cond)
    build(tmp_path / "b", cond)
    assert hashes(tmp_path / "a") == hashes(tmp_path / "b")
    mdir = tmp_path / "a" / "manifests"
    raw, _ = sf.read(str(wham / "wham_noise" / "tt" / "tt_noise.wav"), dtype="float64")
    for row in frame.itertuples():
        mix, clean, noise = (read(mdir, p) for p in (row.mix_path, row.mix_clean_path,
                                                     row.noise_path))
        assert np.max(np.abs(mix - clean - noise)) <= 1
        seg = raw[row.noise_offset:row.noise_offset + row.num_samples]
        # noise file = round(gain * raw segment); gain by least squares (its error is ~0.02 LSB)
        gain = float(np.dot(noise, seg) / np.dot(seg, seg))
        assert np.max(np.abs(noise - gain * seg)) <= 0.55
        assert np.max(np.abs(mix - clean - gain * seg)) <= 1.05
        snr = level_8k(clean / 32768).db - 10 * np.log10(np.mean((noise / 32768.0) ** 2))
        assert abs(snr - row.snr_db) < 0.1, (snr, row.snr_db)
        assert -5 <= row.snr_db <= 5
        assert (wham / row.noise_file).is_file()


@pytest.fixture(scope="module")
def rirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature RIRS_NOISES: real_rirs_isotropic_noises/ with two measured RIRs + a noise."""
    root = tmp_path_factory.mktemp("rir")
    part = root / "RIRS_NOISES" / "real_rirs_isotropic_noises"
    part.mkdir(parents=True)
    for name in ("rir1.wav", "rir2.wav"):
        shutil.copy(NOISE / name, part / f"air_type1_{name}")
    shutil.copy(NOISE / "noise3.wav", part / "air_type1_noise_1.wav")
    return root


def test_reverberant_reference_is_the_early_part(tmp_path: Path, rirs: Path) -> None:
    from scipy.signal import fftconvolve

    frame = build(tmp_path / "a", Conditions(rir_dir=str(rirs)))
    build(tmp_path / "b", Conditions(rir_dir=str(rirs)))
    assert hashes(tmp_path / "a") == hashes(tmp_path / "b")
    mdir = tmp_path / "a" / "manifests"
    for row in frame.itertuples():
        files = row.rir_files.split(";")
        assert len(files) == 2 and all("noise" not in Path(f).name for f in files)
        for k in (1, 2):
            x = sf.read(str(tmp_path / "a" / "raw_audio" / f"{getattr(row, f's{k}_utt')}.wav"))[0]
            h = sf.read(str(rirs / files[k - 1]))[0]
            ref, image = read(mdir, getattr(row, f"s{k}_path")), read(
                mdir, getattr(row, f"s{k}_reverb_path"))
            want_ref = fftconvolve(x, early_part(h))[:row.num_samples]
            want_img = fftconvolve(x, h)[:row.num_samples]
            c = float(np.dot(image, want_img) / np.dot(want_img, want_img))
            assert np.max(np.abs(ref - c * want_ref)) <= 1.0  # same scale, early part only
            assert np.max(np.abs(image - c * want_img)) <= 1.0
        assert row.reverb_reference == "early_50ms"


def test_early_part_keeps_50_ms_after_the_direct_peak() -> None:
    h = np.zeros(4000)
    h[100], h[100 + 800], h[100 + 801] = 1.0, 0.5, 0.25
    e = early_part(h)
    assert e[100] == 1.0 and e[900] == 0.5 and e[901] == 0.0


def test_target_absent_names_a_third_silent_face(tmp_path: Path) -> None:
    frame = build(tmp_path / "a", Conditions(target_absent=True))
    for row in frame.itertuples():
        assert str(row.absent_speaker) not in {str(row.s1_speaker), str(row.s2_speaker)}
        assert row.absent_utt not in {row.s1_utt, row.s2_utt}


def test_target_speaker_dataset_iterates_over_every_source(tmp_path: Path) -> None:
    from avss_bench.data.dataset import TargetSpeakerDataset

    frame = build(tmp_path / "a", Conditions(speakers=3))
    for k in (1, 2, 3):
        frame[f"s{k}_lips"] = f"../lips/{k}.npz"  # built with skip_lips: only the paths matter
    frame.to_csv(tmp_path / "a" / "manifests" / "with_lips.csv", index=False)
    data = TargetSpeakerDataset(tmp_path / "a" / "manifests" / "with_lips.csv")
    assert [item.target for item in data.items] == ["s1", "s2", "s3"] * len(frame)


def test_simulated_rooms_are_seeded_and_recorded(tmp_path: Path) -> None:
    import json

    from scipy.signal import fftconvolve

    from avss_bench.prepare.reverb import room_rirs

    cond = Conditions(simulate_rooms=True, rt60=(0.3, 0.5))
    frame = build(tmp_path / "a", cond, n=1)
    build(tmp_path / "b", cond, n=1)
    assert hashes(tmp_path / "a") == hashes(tmp_path / "b")
    row = next(frame.itertuples())
    assert 0.3 <= row.rt60 <= 0.5
    h = room_rirs(json.loads(row.room))[0]
    x = sf.read(str(tmp_path / "a" / "raw_audio" / f"{row.s1_utt}.wav"))[0]
    mdir = tmp_path / "a" / "manifests"
    ref, image = read(mdir, row.s1_path), read(mdir, row.s1_reverb_path)
    want_img = fftconvolve(x, h)[:row.num_samples]
    c = float(np.dot(image, want_img) / np.dot(want_img, want_img))
    assert np.max(np.abs(ref - c * fftconvolve(x, early_part(h))[:row.num_samples])) <= 1.0


def test_four_speakers(tmp_path: Path) -> None:
    prepare_corpus("lrs2", LRS2, tmp_path, mix_list="generate", splits=["tr"],
                   num_mixtures={"tr": 1}, skip_lips=True, quiet=True, seed=1,
                   conditions=Conditions(speakers=4))  # seed 0 draws the miniature's silent clip
    assert validate_prepared(tmp_path, quiet=True).ok
    row = next(pd.read_csv(tmp_path / "manifests" / "tr.csv").itertuples())
    assert len({row.s1_speaker, row.s2_speaker, row.s3_speaker, row.s4_speaker}) == 4
    mdir = tmp_path / "manifests"
    total = sum(read(mdir, getattr(row, f"s{k}_path")) for k in (1, 2, 3, 4))
    assert np.max(np.abs(read(mdir, row.mix_path) - total)) <= 2  # 5 files rounded


def miniature_musan(root: Path, n: int = 10) -> Path:
    """musan/{noise/{free-sound,sound-bible},music/fma}/*.wav: n noise files cut from a real
    recording (0.8 s each, a different piece each), one music file that must not be drawn."""
    x, rate = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    piece = int(0.8 * rate)
    for i in range(n):
        subset = "free-sound" if i < n - 2 else "sound-bible"
        folder = root / "musan" / "noise" / subset
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(str(folder / f"noise-{subset}-{i:04d}.wav"), x[i * piece:(i + 1) * piece], rate)
    (root / "musan" / "music" / "fma").mkdir(parents=True)
    sf.write(str(root / "musan" / "music" / "fma" / "music-fma-0000.wav"), x, rate)
    return root / "musan"


def miniature_demand(root: Path, envs: tuple[str, ...]) -> Path:
    """<ENV>/ch01.wav, ch02.wav at 48 kHz (as the original release), each a different piece."""
    from scipy.signal import resample_poly

    x, _ = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    for i, env in enumerate(envs):
        (root / env).mkdir(parents=True)
        piece = x[i * 16000:(i + 1) * 16000 + 8000] / 32768
        x48 = np.clip(np.round(resample_poly(piece, 3, 1) * 32768), -32768, 32767)
        for ch in ("ch01", "ch02"):
            sf.write(str(root / env / f"{ch}.wav"), x48.astype(np.int16), 48000)
    return root


def test_musan_splits_are_file_level_and_disjoint(tmp_path: Path) -> None:
    from avss_bench.prepare.noise import noise_files, split_rule

    musan = miniature_musan(tmp_path)
    split = {s: noise_files(musan, s) for s in ("tr", "cv", "tt")}
    assert {layout for layout, _, _ in split.values()} == {"musan"}
    names = {s: [f.relative_to(musan / "noise").as_posix() for f in files]
             for s, (_, _, files) in split.items()}
    assert [len(names[s]) for s in ("tr", "cv", "tt")] == [8, 1, 1]  # 80/10/10 % of 10
    everything = sorted(f.relative_to(musan / "noise").as_posix()
                        for f in (musan / "noise").rglob("*.wav"))
    assert sorted(names["tr"] + names["cv"] + names["tt"]) == everything  # a partition
    assert not set(names["tr"]) & set(names["tt"]) and not set(names["cv"]) & set(names["tt"])
    assert names == {s: [f.relative_to(musan / "noise").as_posix()
                         for f in noise_files(tmp_path, s)[2]]
                     for s in ("tr", "cv", "tt")}  # deterministic, from the parent folder too
    assert split_rule(musan)["layout"] == "musan" and "file-level" in split_rule(musan)["rule"]
    # a mixture of tt draws only tt noise, and report.json names the rule
    frame = build(tmp_path / "out", Conditions(noise_dir=str(musan), snr_db=(0.0, 0.0)), n=2)
    assert set(frame.noise_file) <= {f"noise/{n}" for n in names["tt"]}
    import json

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"]["conditions"]["noise_split"] == split_rule(musan)


def test_demand_splits_are_environment_level(tmp_path: Path) -> None:
    from avss_bench.core.errors import AvssError
    from avss_bench.prepare.noise import noise_files, noise_segment

    envs = ("DKITCHEN", "DLIVING", "NPARK", "OOFFICE", "PCAFETER", "TBUS")
    demand = miniature_demand(tmp_path / "demand", envs)
    split = {s: [f.relative_to(demand).as_posix() for f in noise_files(demand, s)[2]]
             for s in ("tr", "cv", "tt")}
    assert [len(split[s]) for s in ("tr", "cv", "tt")] == [4, 1, 1]  # 60/20/20 % of 6
    assert sorted(sum(split.values(), [])) == [f"{e}/ch01.wav" for e in envs]
    tt = split["tt"][0]
    assert noise_files(demand, "test")[2] == [demand / tt]  # test = tt
    seg = noise_segment(demand / tt, 100, 16000)  # back at 16 kHz
    i = envs.index(tt.split("/")[0])
    x, _ = sf.read(str(NOISE / "noise3.wav"), dtype="int16")
    assert seg.size == 16000
    assert np.corrcoef(seg, x[i * 16000 + 100:i * 16000 + 16100] / 32768)[0, 1] > 0.99
    frame = build(tmp_path / "out", Conditions(noise_dir=str(demand), snr_db=(3.0, 3.0)), n=1)
    assert frame.snr_db.tolist() == [3.0] and frame.noise_file.tolist() == [tt]
    with pytest.raises(AvssError, match="at least 3"):
        noise_files(miniature_demand(tmp_path / "two", envs[:2]), "tt")


def test_cli_options_build_the_conditions(tmp_path: Path, wham: Path) -> None:
    from click.testing import CliRunner

    from avss_bench.cli import main

    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(main, [
        "prepare", "lrs2", "--root", str(LRS2), "--out", str(out), "--mix-list", "generate",
        "--splits", "tt", "--num-mixtures", "tt=1", "--skip-lips", "--quiet",
        "--speakers", "3", "--noise", str(wham), "--snr", "2:2"])
    assert_prepared(result)
    row = next(pd.read_csv(out / "manifests" / "tt.csv").itertuples())
    assert row.snr_db == 2.0 and isinstance(row.s3_path, str)
    report = (out / "report.json").read_text()
    assert '"speakers": 3' in report
    result = runner.invoke(main, ["validate", str(out), "--quiet"])
    assert result.exit_code == 1 and "same recording" in result.output  # the miniature's pair
    result = runner.invoke(main, ["prepare", "lrs2", "--root", str(LRS2), "--out",
                                  str(tmp_path / "x"), "--rir", str(wham), "--simulate-rooms"])
    assert result.exit_code == 1 and "not both" in result.output
