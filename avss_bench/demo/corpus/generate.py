"""Write the demo corpus in the LRS2-BBC on-disk layout.

```
<root>/
  mvlrs_v1/main/<19-digit programme id>/<nnnnn>.mp4   160x160, 25 fps, H.264 + AAC 16 kHz mono
  mvlrs_v1/main/<19-digit programme id>/<nnnnn>.txt   "Text:  <WORDS>" / "Conf:  <n>"
  train.txt  val.txt  test.txt  pretrain.txt           "<id>/<nnnnn>" per line (test: "... NF")
  demo_corpus.json      what was generated, from which settings (written last: complete)
```
One programme id per synthetic speaker; the speakers of train, val and test are disjoint, so a
mixture list built per split never sees a test voice in training. `pretrain.txt` is empty.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from avss_bench.core.atomic import write_text
from avss_bench.core.constants import VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.demo.corpus.face import (
    TalkingFace,
    head_motion,
    make_look,
    opening_from_envelope,
)
from avss_bench.demo.corpus.speech import (
    SAMPLE_RATE,
    frame_envelope,
    make_voice,
    synthesize_utterance,
)

__all__ = [
    "VIDEO_FPS",
    "GENERATOR_VERSION",
    "PARTIAL_NAME",
    "STAMP_NAME",
    "generate_demo_corpus",
    "speaker_plan",
]

GENERATOR_VERSION = 1
STAMP_NAME = "demo_corpus.json"  # written last: its presence means the corpus is complete
PARTIAL_NAME = ".demo_corpus.partial.json"  # settings of a generation in progress
F0_RANGE_HZ = (90.0, 250.0)
SPLIT_LISTS = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}


def _split_by_pitch_rank(num_speakers: int) -> list[str]:
    """Split of each pitch rank (lowest first): held-out voices sit inside the training range."""
    n_held = max(2, int(round(num_speakers / 4)))
    positions = np.linspace(0, num_speakers - 1, 2 * n_held + 2)[1:-1]
    held = sorted({int(round(p)) for p in positions})
    splits = ["train"] * num_speakers
    for i, rank in enumerate(held):
        splits[rank] = "test" if i % 2 == 0 else "val"
    return splits


def speaker_plan(seed: int, num_speakers: int) -> list[dict[str, Any]]:
    """The speakers of a corpus: programme id, split, voice and look, all fixed by the seed."""
    if num_speakers < 6:
        raise AvssError(
            f"the demo corpus needs at least 6 speakers (two per split), got {num_speakers}"
        )
    rng = np.random.default_rng([seed, 0])
    f0s = np.geomspace(F0_RANGE_HZ[0], F0_RANGE_HZ[1], num_speakers)
    splits = _split_by_pitch_rank(num_speakers)
    # Programme ids: unique 19-digit numbers in the range real LRS2 ids take.
    ids: set[int] = set()
    while len(ids) < num_speakers:
        ids.add(int(rng.integers(5_000_000_000_000_000_000, 6_400_000_000_000_000_000)))
    id_list = [str(i) for i in sorted(ids)]
    order = rng.permutation(num_speakers)  # id order says nothing about pitch
    speakers = []
    for k in range(num_speakers):
        speakers.append(
            {
                "index": k,
                "id": id_list[int(order[k])],
                "split": splits[k],
                "voice": make_voice(np.random.default_rng([seed, 1, k]), float(f0s[k])),
                "look": make_look(k, np.random.default_rng([seed, 2, k])),
            }
        )
    return speakers


def render_clip(
    speaker: dict[str, Any],
    face: TalkingFace,
    seed: int,
    utt_index: int,
    duration_s: float,
) -> tuple[np.ndarray, np.ndarray, str, int, np.ndarray]:
    """Synthesise one clip: (frames uint8 [F,160,160,3], audio float32 [N], text, conf, opening)."""
    rng = np.random.default_rng([seed, 3, speaker["index"], utt_index])
    n_frames = int(round(duration_s * VIDEO_FPS))
    utt = synthesize_utterance(speaker["voice"], duration_s, rng)
    env = frame_envelope(utt.audio, SAMPLE_RATE, VIDEO_FPS, n_frames)
    opening = opening_from_envelope(env)
    pose = head_motion(n_frames, rng, VIDEO_FPS)
    frames = np.stack([face.render(float(o), tuple(p)) for o, p in zip(opening, pose, strict=True)])
    conf = int(rng.integers(3, 10))
    return frames, utt.audio, utt.text, conf, opening


def _write_speaker(
    spk: dict[str, Any], main: Path, seed: int, clips: int, duration_s: float, resume: bool
) -> list[str]:
    """Write all clips of one speaker (keeping finished ones if `resume`); return their ids."""
    from avss_bench.io.video_write import write_mp4

    face = TalkingFace(spk["look"])
    (main / spk["id"]).mkdir(exist_ok=True)
    utts = []
    for j in range(clips):
        utt_id = f"{spk['id']}/{j + 1:05d}"
        utts.append(utt_id)
        mp4, txt = main / f"{utt_id}.mp4", main / f"{utt_id}.txt"
        if resume and mp4.is_file() and txt.is_file():  # both written atomically
            continue
        frames, audio, text, conf, _ = render_clip(spk, face, seed, j, duration_s)
        write_mp4(mp4, frames, VIDEO_FPS, audio, SAMPLE_RATE)
        write_text(txt, f"Text:  {text}\nConf:  {conf}\n")
    return utts




def _settings(seed: int, num_speakers: int, clips: int, duration_s: float) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "num_speakers": num_speakers,
        "clips_per_speaker": clips,
        "duration_s": duration_s,
    }


def _is_complete(root: Path, stamp: dict[str, Any]) -> bool:
    if not stamp.get("complete"):
        return False
    main = root / "mvlrs_v1" / "main"
    for spk in stamp.get("speakers", []):
        for utt in spk.get("utterances", []):
            if not (main / f"{utt}.mp4").is_file() or not (main / f"{utt}.txt").is_file():
                return False
    return all((root / name).is_file() for name in [*SPLIT_LISTS.values(), "pretrain.txt"])


def generate_demo_corpus(
    root: str | Path,
    seed: int = 0,
    num_speakers: int = 8,
    clips_per_speaker: int = 10,
    duration_s: float = 2.24,
    quiet: bool = False,
    force: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Generate the demo corpus under `root` in the LRS2-BBC layout; deterministic from `seed`.

    If `root` already holds a complete corpus made with the same settings, nothing is
    rewritten (unless `force`); an interrupted one is finished. A corpus made with other
    settings is replaced; a `root` holding an `mvlrs_v1` that this function did not make is
    refused rather than overwritten.

    Args:
        root: output folder (it will contain `mvlrs_v1/` and the list files).
        seed: fixes every sample, frame and id.
        num_speakers: synthetic speakers (>= 6); about a quarter go to val and to test each,
            at least two each, the rest to train.
        clips_per_speaker: utterances per speaker.
        duration_s: clip length; the default 2.24 s is 56 frames and 35,840 samples (a whole
            number of AAC frames, so decoders return exactly that many samples).
        quiet: no progress bar.
        force: regenerate even if a matching corpus is present.
        jobs: worker processes (speakers are written in parallel; the output is the same).

    Returns:
        A summary: the settings, `root`, `splits` (split -> utterance ids), `speakers` (id,
        split, voice and look parameters, utterances), `num_clips`, `video_codec`, `seconds`
        and `skipped` (True when an existing corpus was reused).
    """
    from tqdm import tqdm

    from avss_bench.io.video_write import video_codec

    root = Path(root)
    if clips_per_speaker < 1:
        raise AvssError(f"clips_per_speaker must be >= 1, got {clips_per_speaker}")
    if jobs < 1:
        raise AvssError(f"jobs must be >= 1, got {jobs}")
    if not 0.5 <= duration_s <= 30.0:
        raise AvssError(f"duration_s must be within 0.5..30 s, got {duration_s}")
    settings = _settings(seed, num_speakers, clips_per_speaker, float(duration_s))
    stamp_path, partial_path = root / STAMP_NAME, root / PARTIAL_NAME
    start = time.perf_counter()

    old_stamp: dict[str, Any] | None = None
    for path in (stamp_path, partial_path):
        if old_stamp is None and path.is_file():
            try:
                old_stamp = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old_stamp = None
    same = old_stamp is not None and all(old_stamp.get(k) == v for k, v in settings.items())
    if same and not force and _is_complete(root, old_stamp):
        return {**old_stamp, "root": str(root), "seconds": 0.0, "skipped": True}
    # Same settings but unfinished (interrupted): keep what was written, finish the rest.
    resume = same and not force
    if (root / "mvlrs_v1").exists() and not resume:
        if old_stamp is None:
            raise AvssError(
                "holds an mvlrs_v1 folder that is not a generated demo corpus; refusing to "
                "overwrite it",
                root,
            )
        shutil.rmtree(root / "mvlrs_v1")  # ours, from other settings: start clean

    speakers = speaker_plan(seed, num_speakers)
    main = root / "mvlrs_v1" / "main"
    main.mkdir(parents=True, exist_ok=True)
    for leftover in main.glob("*/.*.tmp*"):  # from writes that were cut short
        leftover.unlink()
    stamp_path.unlink(missing_ok=True)
    write_text(partial_path, json.dumps({**settings, "complete": False}, indent=1) + "\n")

    lists: dict[str, list[str]] = {name: [] for name in SPLIT_LISTS}
    summary_speakers = []
    bar = tqdm(
        total=num_speakers * clips_per_speaker, desc="demo corpus", unit="clip", disable=quiet
    )
    if jobs == 1:
        done = (
            _write_speaker(spk, main, seed, clips_per_speaker, duration_s, resume)
            for spk in speakers
        )
    else:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_write_speaker)(spk, main, seed, clips_per_speaker, duration_s, resume)
            for spk in speakers
        )
    for spk, utts in zip(speakers, done, strict=True):
        bar.update(len(utts))
        lists[spk["split"]].extend(utts)
        summary_speakers.append(
            {
                "id": spk["id"],
                "split": spk["split"],
                "voice": spk["voice"].to_dict(),
                "look": spk["look"].to_dict(),
                "utterances": utts,
            }
        )
    bar.close()

    for split, name in SPLIT_LISTS.items():
        suffix = " NF" if split == "test" else ""
        lines = "".join(f"{u}{suffix}\n" for u in sorted(lists[split]))
        write_text(root / name, lines)
    write_text(root / "pretrain.txt", "")

    summary = {
        **settings,
        "sample_rate": SAMPLE_RATE,
        "fps": VIDEO_FPS,
        "video_codec": video_codec(),
        "num_clips": num_speakers * clips_per_speaker,
        "splits": {split: sorted(v) for split, v in lists.items()},
        "speakers": sorted(summary_speakers, key=lambda s: s["id"]),
        "complete": True,
    }
    write_text(stamp_path, json.dumps(summary, indent=1) + "\n")
    partial_path.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    return {**summary, "root": str(root), "seconds": round(seconds, 2), "skipped": False}
