"""A tiny prepared corpus built in a temp dir, for tests of loading, training and evaluation.

The content is synthetic (tones under a syllable envelope; lip crops whose brightness follows
it) but the layout is exactly what `avss-bench prepare` writes: wavs, lip npz files and one
manifest per split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from avss_bench.io.manifest import write_manifest

RATE, FPS = 16000, 25


def _source(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    frames = int(seconds * FPS)
    envelope = np.clip(np.sin(np.linspace(0, rng.uniform(8, 20), frames)) + rng.uniform(0, 0.5),
                       0, None)
    samples = int(seconds * RATE)
    t = np.arange(samples) / RATE
    pitch = rng.uniform(100, 250)
    wave = sum(np.sin(2 * np.pi * pitch * h * t) / h for h in range(1, 6))
    env_audio = np.repeat(envelope, RATE // FPS)[:samples]
    return (0.2 * wave * env_audio).astype(np.float32), envelope


def make_prepared_corpus(root: Path, mixtures: dict[str, int], seconds: float = 2.0,
                         seed: int = 0) -> Path:
    """Write `root/manifests/{split}.csv` plus wavs and lips; returns `root`."""
    rng = np.random.default_rng(seed)
    for split, count in mixtures.items():
        rows = []
        for index in range(count):
            mid = f"{split}{index:03d}"
            sources, lips_paths, wav_paths = [], [], []
            for k in (1, 2):
                audio, envelope = _source(rng, seconds)
                sources.append(audio)
                lips = np.full((len(envelope), 96, 96), 60, np.uint8)
                mouth = (40 + 150 * envelope / max(envelope.max(), 1e-6)).astype(np.uint8)
                lips[:, 40:56, 30:66] = mouth[:, None, None]
                lip_path = root / "lips" / f"{mid}_s{k}.npz"
                lip_path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(lip_path, data=lips)
                lips_paths.append(lip_path)
            mix = sources[0] + sources[1]
            for name, signal in (("mix", mix), ("s1", sources[0]), ("s2", sources[1])):
                path = root / "wav16k" / "min" / split / name / f"{mid}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, signal, RATE, subtype="FLOAT")
                wav_paths.append(path)
            rel = lambda p: str(Path("..") / p.relative_to(root))  # noqa: E731
            rows.append({
                "mixture_id": mid, "mix_path": rel(wav_paths[0]), "num_samples": len(mix),
                "sample_rate": RATE,
                **{f"s{k}_{field}": value for k in (1, 2) for field, value in (
                    ("path", rel(wav_paths[k])), ("utt", f"{mid}_u{k}"),
                    ("speaker", f"spk{k}"), ("gain_db", 0.0), ("lips", rel(lips_paths[k - 1])),
                    ("source", f"fake/{mid}_{k}.mp4"))}})
        write_manifest(pd.DataFrame(rows), root / "manifests" / f"{split}.csv")
    return root


def make_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A reduced `tiny-av` checkpoint (random weights from `seed`): the tests' small real model."""
    import torch

    from avss_bench.models.checkpoints import save_checkpoint
    from avss_bench.models.separators.tiny import TinyAVSeparator

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(TinyAVSeparator(enc_channels=16, hidden=32, num_blocks=2, repeats=1,
                                    video_channels=8), path, "tiny-av")
    return path


def min_cut(root: Path, split: str, mixture_id: str, num_samples: int) -> None:
    """Cut one mixture of a corpus from `make_prepared_corpus` as 'min' mode cuts a mixture to
    its shorter source: its wavs keep their first `num_samples` samples, the manifest says so,
    and (as `prepare` writes) `s<k>_source_samples` holds each source's length before the cut;
    the lip files keep the frames of the whole source."""
    manifest = root / "manifests" / f"{split}.csv"
    frame = pd.read_csv(manifest)
    speakers = sorted(int(c[1:-5]) for c in frame.columns if c[0] == "s" and c.endswith("_path"))
    for k in speakers:
        column = f"s{k}_source_samples"
        if column not in frame.columns:
            frame[column] = frame["num_samples"]
    row = frame.index[frame["mixture_id"] == mixture_id][0]
    for column in ["mix_path"] + [f"s{k}_path" for k in speakers]:
        path = manifest.parent / frame.loc[row, column]
        audio, rate = sf.read(path, dtype="float32")
        sf.write(path, audio[:num_samples], rate, subtype="FLOAT")
    frame.loc[row, "num_samples"] = num_samples
    write_manifest(frame, manifest)


def add_third_speaker(root: Path, split: str, seed: int = 5) -> None:
    """Make every mixture of a `make_prepared_corpus` split a 3-speaker one (columns s3_*, as
    `prepare --speakers 3` writes them): a third source of each mixture's length is added."""
    rng = np.random.default_rng(seed)
    manifest = root / "manifests" / f"{split}.csv"
    frame = pd.read_csv(manifest)
    for column in ("path", "utt", "speaker", "gain_db", "lips", "source"):
        frame[f"s3_{column}"] = ""
    frame["s3_gain_db"] = 0.0
    for row in frame.index:
        mid, n = frame.loc[row, "mixture_id"], int(frame.loc[row, "num_samples"])
        audio, envelope = _source(rng, n / RATE)
        lips = np.full((len(envelope), 96, 96), 60, np.uint8)
        lips[:, 40:56, 30:66] = (40 + 150 * envelope / max(envelope.max(), 1e-6))[:, None, None]
        np.savez_compressed(root / "lips" / f"{mid}_s3.npz", data=lips)
        s3 = root / "wav16k" / "min" / split / "s3" / f"{mid}.wav"
        s3.parent.mkdir(parents=True, exist_ok=True)
        sf.write(s3, audio, RATE, subtype="FLOAT")
        mix = manifest.parent / frame.loc[row, "mix_path"]
        sf.write(mix, sf.read(mix, dtype="float32")[0] + audio, RATE, subtype="FLOAT")
        frame.loc[row, ["s3_path", "s3_utt", "s3_speaker", "s3_lips", "s3_source"]] = [
            f"../wav16k/min/{split}/s3/{mid}.wav", f"{mid}_u3", "spk3",
            f"../lips/{mid}_s3.npz", f"fake/{mid}_3.mp4"]
    if "s1_source_samples" in frame.columns:
        frame["s3_source_samples"] = frame["num_samples"]
    write_manifest(frame, manifest)


def make_short_source_corpus(root: Path, short: tuple[float, ...] = (0.96, 1.28)) -> Path:
    """A small generated talking-face corpus in the LRS2 layout (`generate_demo_corpus`: 6
    speakers, 2 per split, 2 clips each) whose first clips are deliberately shorter than the
    2 s source: clip 1 of the first speaker of each split lasts `short[0]` s, clip 1 of the
    second `short[1]` s (whole AAC frames and whole video frames: 0.96 s = 24 frames =
    15 x 1024 samples). Mixtures with them are 'min'-cut below 2 s; returns `root`."""
    from avss_bench.demo.corpus import generate_demo_corpus
    from avss_bench.demo.corpus.face import TalkingFace
    from avss_bench.demo.corpus.generate import render_clip, speaker_plan
    from avss_bench.io.video_write import write_mp4

    generate_demo_corpus(root, seed=0, num_speakers=6, clips_per_speaker=2, quiet=True)
    seen: dict[str, int] = {}
    for speaker in speaker_plan(0, 6):
        order = seen.setdefault(speaker["split"], 0)
        seen[speaker["split"]] += 1
        frames, audio, *_ = render_clip(speaker, TalkingFace(speaker["look"]), 0, 0,
                                        short[order])
        write_mp4(root / "mvlrs_v1" / "main" / speaker["id"] / "00001.mp4", frames, FPS, audio,
                  RATE)
    return root
