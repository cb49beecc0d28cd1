"""The embedded demo corpus: LRS2 layout, media format, determinism, faces, mouths, voices."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from avss_bench.core.errors import AvssError
from avss_bench.demo.corpus import STAMP_NAME, generate_demo_corpus, render_clip, speaker_plan
from avss_bench.demo.corpus.face import TalkingFace
from avss_bench.demo.corpus.generate import PARTIAL_NAME
from avss_bench.demo.corpus.speech import frame_envelope
from avss_bench.io.video_write import write_mp4

SMALL = dict(num_speakers=6, clips_per_speaker=2)
N_FRAMES = 56  # default 2.24 s at 25 fps
N_SAMPLES = 35840  # default 2.24 s at 16 kHz
FACE_MODEL = Path(__file__).resolve().parents[1].parent / "shared/data/models/face_landmarker.task"


def _read_mp4(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with av.open(str(path)) as container:
        vs, aus = container.streams.video[0], container.streams.audio[0]
        info = {
            "video_codec": vs.codec_context.name,
            "fps": float(vs.average_rate),
            "size": (vs.codec_context.width, vs.codec_context.height),
            "audio_codec": aus.codec_context.name,
            "sample_rate": aus.codec_context.sample_rate,
            "channels": aus.codec_context.channels,
            "audio_duration": aus.duration,
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(vs)])
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, audio, info


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo_corpus(root, seed=0, quiet=True, **SMALL)


def test_layout_and_list_files_follow_lrs2(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    main = root / "mvlrs_v1" / "main"
    programme_dirs = sorted(p.name for p in main.iterdir())
    assert len(programme_dirs) == SMALL["num_speakers"]
    assert all(re.fullmatch(r"\d{19}", d) for d in programme_dirs)
    for d in programme_dirs:
        names = sorted(p.name for p in (main / d).iterdir())
        assert names == [f"{i:05d}.{ext}" for i in range(1, 3) for ext in ("mp4", "txt")]
        for txt in (main / d).glob("*.txt"):
            assert re.fullmatch(r"Text:  [A-Z]+( [A-Z]+)*\nConf:  \d+\n", txt.read_text())

    assert (root / "pretrain.txt").read_text() == ""
    listed: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        lines = (root / f"{split}.txt").read_text().splitlines()
        if split == "test":
            assert all(re.fullmatch(r"\d{19}/\d{5} NF", line) for line in lines)
        else:
            assert all(re.fullmatch(r"\d{19}/\d{5}", line) for line in lines)
        listed[split] = [line.split()[0] for line in lines]
        for utt in listed[split]:
            assert (main / f"{utt}.mp4").is_file()
        assert listed[split] == summary["splits"][split]
    every = sorted(u for v in listed.values() for u in v)
    assert every == sorted(f"{d}/{i:05d}" for d in programme_dirs for i in (1, 2))
    speakers = {s: {u.split("/")[0] for u in v} for s, v in listed.items()}
    assert all(len(v) >= 2 for v in speakers.values()), speakers  # mixtures need two voices
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]


def test_mp4_decodes_to_lrs2_media_format(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    utt = summary["splits"]["train"][0]
    frames, audio, info = _read_mp4(root / "mvlrs_v1" / "main" / f"{utt}.mp4")
    assert info["video_codec"] in ("h264", "mpeg4")
    assert info["fps"] == 25.0
    assert info["size"] == (160, 160)
    assert frames.shape == (N_FRAMES, 160, 160, 3)
    assert (info["audio_codec"], info["sample_rate"], info["channels"]) == ("aac", 16000, 1)
    assert info["audio_duration"] == N_SAMPLES
    assert audio.shape == (1, N_SAMPLES)
    assert 0.005 < float(np.sqrt(np.mean(audio**2))) < 0.5


def test_same_seed_same_bytes_other_seed_differs(corpus: tuple[Path, dict], tmp_path: Path) -> None:
    root, summary = corpus
    again = generate_demo_corpus(tmp_path / "again", seed=0, quiet=True, **SMALL)
    assert again["splits"] == summary["splits"]
    for utt in (u for v in summary["splits"].values() for u in v):
        for ext in ("mp4", "txt"):
            a = (root / "mvlrs_v1" / "main" / f"{utt}.{ext}").read_bytes()
            b = (tmp_path / "again" / "mvlrs_v1" / "main" / f"{utt}.{ext}").read_bytes()
            assert a == b, f"{utt}.{ext} differs between two runs with the same seed"

    # Decoded frames and audio (what the requirement is about), and another seed.
    plan0, plan1 = speaker_plan(0, 6), speaker_plan(1, 6)
    assert [s["id"] for s in plan0] != [s["id"] for s in plan1]
    face = TalkingFace(plan0[0]["look"])
    f_a, a_a, text_a, _, _ = render_clip(plan0[0], face, 0, 0, 1.0)
    f_b, a_b, text_b, _, _ = render_clip(plan0[0], face, 0, 0, 1.0)
    np.testing.assert_array_equal(f_a, f_b)
    np.testing.assert_array_equal(a_a, a_b)
    assert text_a == text_b
    f_c, a_c, _, _, _ = render_clip(plan0[0], face, 1, 0, 1.0)  # other seed
    assert not np.array_equal(a_a, a_c) and not np.array_equal(f_a, f_c)
    f_d, a_d, text_d, _, _ = render_clip(plan0[0], face, 0, 1, 1.0)  # next utterance
    assert not np.array_equal(a_a, a_d) and text_a != text_d


def _median_f0(y: np.ndarray, sr: int = 16000) -> float:
    """Median pitch of the loud frames, by normalised autocorrelation (60..400 Hz)."""
    n, hop = 1024, 256
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::hop] * np.hanning(n)
    energy = np.sum(frames**2, axis=1)
    loud = frames[energy > 0.3 * np.median(energy[energy > 1e-6])]
    spec = np.fft.rfft(loud, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    ac /= ac[:, :1]
    lo, hi = sr // 400, sr // 60
    lags = lo + np.argmax(ac[:, lo:hi], axis=1)
    return float(np.median(sr / lags))


def test_speakers_differ_in_pitch(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    measured = {}
    for spk in summary["speakers"]:
        _, audio, _ = _read_mp4(root / "mvlrs_v1" / "main" / f"{spk['utterances'][0]}.mp4")
        measured[spk["id"]] = _median_f0(audio[0].astype(np.float64))
        planned = spk["voice"]["f0_hz"]
        # Declination and accents move the median a little; the speaker's pitch is kept.
        assert abs(measured[spk["id"]] / planned - 1) < 0.15, (spk["id"], planned, measured)
    pitches = sorted(measured.values())
    assert all(b / a > 1.08 for a, b in zip(pitches[:-1], pitches[1:], strict=True)), pitches


def test_skips_complete_corpus_and_refuses_foreign_one(
    corpus: tuple[Path, dict], tmp_path: Path
) -> None:
    root, summary = corpus
    again = generate_demo_corpus(root, seed=0, quiet=True, **SMALL)
    assert again["skipped"] and again["splits"] == summary["splits"]

    # An interrupted run (stamp not complete, a clip missing) is finished, identically.
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    stamp = json.loads((copy / STAMP_NAME).read_text())
    (copy / STAMP_NAME).unlink()  # as left by a run cut short
    (copy / PARTIAL_NAME).write_text(json.dumps({**stamp, "complete": False}))
    victim = copy / "mvlrs_v1" / "main" / f"{summary['splits']['test'][0]}.mp4"
    victim.unlink()
    resumed = generate_demo_corpus(copy, seed=0, quiet=True, **SMALL)
    assert not resumed["skipped"] and resumed["splits"] == summary["splits"]
    assert (copy / STAMP_NAME).is_file() and not (copy / PARTIAL_NAME).exists()
    assert victim.read_bytes() == (root / victim.relative_to(copy)).read_bytes()

    foreign = tmp_path / "lrs2"
    (foreign / "mvlrs_v1" / "main").mkdir(parents=True)
    with pytest.raises(AvssError, match="not a generated demo corpus"):
        generate_demo_corpus(foreign, quiet=True, **SMALL)
    with pytest.raises(AvssError, match="at least 6 speakers"):
        generate_demo_corpus(tmp_path / "few", num_speakers=4, quiet=True)


def test_mediapipe_finds_the_face_and_the_mouth_follows_the_audio(
    corpus: tuple[Path, dict],
) -> None:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    root, summary = corpus
    for spk in summary["speakers"]:  # every look: mirrored, grey, tinted, zoomed, rolled
        frames, audio, _ = _read_mp4(root / "mvlrs_v1" / "main" / f"{spk['utterances'][0]}.mp4")
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(FACE_MODEL)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=1,
        )
        landmarker = vision.FaceLandmarker.create_from_options(options)
        try:
            opening = np.full(len(frames), np.nan)
            for i, frame in enumerate(frames):
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                result = landmarker.detect_for_video(image, i * 40)
                if result.face_landmarks:
                    pts = np.array([[p.x, p.y] for p in result.face_landmarks[0]]) * 160
                    # inner-lip gap (13/14) over mouth width (78/308)
                    opening[i] = np.linalg.norm(pts[13] - pts[14]) / np.linalg.norm(
                        pts[78] - pts[308]
                    )
        finally:
            landmarker.close()
        found = ~np.isnan(opening)
        assert found.mean() >= 0.95, (spk["id"], spk["look"], found.mean())
        envelope = frame_envelope(audio[0], 16000, 25, len(frames))
        r = np.corrcoef(opening[found], envelope[found])[0, 1]
        assert r > 0.5, (spk["id"], r)


def test_write_mp4_video_only_mpeg4_and_atomic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)
    out = write_mp4(tmp_path / "v.mp4", frames, 25, None, codec="mpeg4")
    with av.open(str(out)) as container:
        assert not container.streams.audio
        vs = container.streams.video[0]
        assert vs.codec_context.name == "mpeg4"
        assert (vs.codec_context.width, vs.codec_context.height) == (48, 32)
        assert sum(1 for _ in container.decode(vs)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # no temp file left
    with pytest.raises(ValueError, match="even"):
        write_mp4(tmp_path / "odd.mp4", frames[:, :31], 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_mp4_writers_side_by_side_fast_colour_and_interrupt(tmp_path: Path) -> None:
    """Two `Mp4Writer`s open at once (how `separate` writes one video per speaker from one
    decode): FFmpeg's colour conversion decodes to nearly the exact one's pixels, a writer left
    without `finish` leaves no file, and `finish` keeps the soundtrack."""
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.io.video_write import Mp4Writer

    yy, xx = np.mgrid[0:64, 0:96]
    frames = np.stack([np.stack([(xx * 2 + t) % 256, (yy * 3) % 256, (xx + yy) % 256], axis=-1)
                       for t in range(10)]).astype(np.uint8)
    voice = np.sin(np.arange(6400) / 8.0).astype(np.float32) * 0.5
    with Mp4Writer(tmp_path / "exact.mp4", 96, 64, 25.0, voice, 16000, crf=10) as exact, \
            Mp4Writer(tmp_path / "fast.mp4", 96, 64, 25.0, voice, 16000, crf=10,
                      exact_colour=False) as fast:
        for frame in frames:
            exact.write(frame)
            fast.write(frame)
        exact.finish()
        fast.finish()
    decoded = {name: read_frames_25fps(tmp_path / f"{name}.mp4")[0].astype(int)
               for name in ("exact", "fast")}
    assert decoded["exact"].shape == decoded["fast"].shape == frames.shape
    assert np.abs(decoded["exact"] - frames).mean() < 3.0
    assert np.abs(decoded["fast"] - decoded["exact"]).mean() < 3.0
    with av.open(str(tmp_path / "fast.mp4")) as container:
        assert container.streams.audio[0].duration is not None
    with pytest.raises(KeyboardInterrupt), Mp4Writer(tmp_path / "cut.mp4", 96, 64) as cut:
        cut.write(frames[0])
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exact.mp4", "fast.mp4"]
