"""`prepare avspeech`: a miniature AVSpeech (official CSV + downloaded clips) cut from the real
split-screen videos of ../shared/data/videos, two people per frame. The CSV's face centre must
select the named person (left or right); missing clips are counted, never fatal; a 2-worker
Dask cluster writes the bytes of a local run.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_data import SHARED_DATA as SHARED
from test_prepare import tree_hashes

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.corpora.avspeech import AVSpeech, read_csv
from avss_bench.prepare import prepare_corpus
from avss_bench.prepare.lip_rois import LIP_LOOKAHEAD, face_region

VIDEOS = SHARED / "videos"
MODEL = SHARED / "models" / "face_landmarker.task"
CLIP_SECONDS = 2.2  # 55 frames: the 2 s source's 50 and the tracker's look-ahead
#: measured face centres (mean iBUG landmark, frame fractions) of each video's two people
FACES = {"visualvoice_interview.mp4": {"L": (0.323, 0.419), "R": (0.694, 0.352)},
         "iianet_debate.mp4": {"L": (0.330, 0.274), "R": (0.790, 0.349)}}
#: (video, offset s, side): one clip each, every clip its own (made-up) YouTube id
CLIPS = [("visualvoice_interview.mp4", 0.0, "L"), ("visualvoice_interview.mp4", 2.2, "R"),
         ("visualvoice_interview.mp4", 4.4, "L"), ("visualvoice_interview.mp4", 6.6, "R"),
         ("visualvoice_interview.mp4", 8.8, "R"), ("iianet_debate.mp4", 0.0, "L"),
         ("iianet_debate.mp4", 2.2, "L"), ("iianet_debate.mp4", 4.4, "R"),
         ("iianet_debate.mp4", 6.6, "L")]
MISSING = "missingVid0"


def _ytid(k: int) -> str:
    return f"clip-{k:02d}_abc"  # 11 characters, with the '-' and '_' YouTube ids may hold


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The clips folder (default naming) and the CSV, written once: 640x360 clips at 25 fps."""
    import av

    from avss_bench.io.audio import decode_audio
    from avss_bench.io.video_write import write_mp4

    root = tmp_path_factory.mktemp("avspeech")
    clips = root / "clips"
    clips.mkdir()
    decoded = {}
    rows, sides = [], {}
    for k, (video, offset, side) in enumerate(CLIPS):
        if video not in decoded:
            with av.open(str(VIDEOS / video)) as container:  # both are 25 fps, 16:9
                container.streams.video[0].thread_type = "AUTO"
                frames = np.stack([f.to_ndarray(width=640, height=360, format="rgb24")
                                   for f in islice(container.decode(video=0), 275)])
            decoded[video] = (frames, decode_audio(VIDEOS / video))
        frames, audio = decoded[video]
        f0, n = int(offset * 25), int(CLIP_SECONDS * 25)
        start, end = f"{90 + offset:.6f}", f"{90 + offset + CLIP_SECONDS:.6f}"
        write_mp4(clips / f"{_ytid(k)}_{start}_{end}.mp4",
                  np.ascontiguousarray(frames[f0:f0 + n]), 25.0,
                  audio[int(offset * 16000):int((offset + CLIP_SECONDS) * 16000)],
                  preset="ultrafast")
        x, y = FACES[video][side]
        rows.append(f"{_ytid(k)},{start},{end},{x:.6f},{y:.6f}")
        sides[f"{_ytid(k)}_{round(float(start) * 1000):08d}"] = (video, side)
    rows.append(f"{MISSING},10.000000,13.000000,0.500000,0.500000")  # deleted video
    csv = root / "avspeech_train.csv"
    csv.write_text("\n".join(rows) + "\n")
    return {"clips": clips, "csv": csv, "sides": sides}


def _prepare(mini: dict, out: Path, executor: str | object = "local") -> dict:
    """tt from a given list: interview left + right, debate right + left, and a line naming
    the missing clip (dropped, reported)."""
    utts = sorted(mini["sides"])
    pairs = [(utts[0], utts[1]), (utts[7], utts[8]), (utts[2], f"{MISSING}_00010000")]
    lists = out.parent / f"{out.name}-lists"
    lists.mkdir()
    (lists / "mix_2_spk_tt.scp").write_text("".join(
        f"raw_audio/{a}.wav 2.5 raw_audio/{b}.wav -2.5\n" for a, b in pairs))
    return prepare_corpus("avspeech", mini["clips"], out, mix_list=lists, splits=["tt"],
                          landmarker=str(MODEL), quiet=True, executor=executor,
                          corpus_options={"csv": mini["csv"]})


def test_csv_rows_clip_names_and_speaker_disjoint_pools(mini: dict) -> None:
    corpus = AVSpeech(mini["clips"], csv=mini["csv"])
    assert len(corpus.rows) == len(CLIPS) + 1
    found = corpus.utterances()
    assert len(found) == len(CLIPS)
    first = found[0]
    assert first.utt == "clip-00_abc_00090000" and corpus.utt_regex.fullmatch(first.utt)
    assert first.video == "clip-00_abc_90.000000_92.200000.mp4" and first.face == (0.323, 0.419)
    assert corpus.locate(f"{MISSING}_00010000") is None
    summary = corpus.summary()
    assert (summary["clips_found"], summary["clips_missing"]) == (len(CLIPS), 1)
    assert summary["missing_examples"] == [f"{MISSING}_10.000000_13.000000.mp4"]
    pools = corpus.pools(["tr", "cv", "tt"], {}, seed=0)
    speakers = {s: {u.speaker for u in pool} for s, pool in pools.items()}
    assert all(len(v) >= 2 for v in speakers.values())
    assert not (speakers["tr"] & speakers["cv"] or speakers["tr"] & speakers["tt"]
                or speakers["cv"] & speakers["tt"])
    assert sum(len(v) for v in speakers.values()) == len(CLIPS)
    assert corpus.pools(["tt"], {}, seed=0)["tt"] == pools["tt"]  # same split whatever is asked
    assert any(corpus.pools(["tt"], {}, seed=k)["tt"] != pools["tt"] for k in range(1, 6))
    # other downloaders' naming, and a pattern with a number format
    other = AVSpeech(mini["clips"], csv=mini["csv"], clip_pattern="{ytid}/{start:.3f}.mp4")
    assert other.clip_rel(other.rows[first.utt]) == "clip-00_abc/90.000.mp4"
    assert other.utterances() == []  # nothing there: all counted missing, no error
    assert other.summary()["clips_missing"] == len(CLIPS) + 1


def test_bad_csv_and_pattern_are_one_line_errors(tmp_path: Path, mini: dict) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("abcdefghijk,1.0,3.0,0.5\n")
    with pytest.raises(AvssError, match="line 1: expected 5 columns"):
        read_csv(bad)
    bad.write_text("abcdefghijk,1.0,3.0,1.5,0.5\n")
    with pytest.raises(AvssError, match="outside"):
        read_csv(bad)
    with pytest.raises(AvssError, match="unknown field"):
        AVSpeech(mini["clips"], csv=mini["csv"], clip_pattern="{video}.mp4")


def test_face_region_is_centred_and_inside_the_frame() -> None:
    assert face_region((0.25, 0.5), 640, 360) == (0, 0, 320, 360)  # the left half exactly
    assert face_region((0.75, 0.4), 640, 360) == (320, 0, 640, 288)
    x0, y0, x1, y1 = face_region((0.02, 0.5), 640, 360)  # at the edge: the minimum box
    assert (x1 - x0, y1 - y0) == (160, 360)


def test_face_centre_selects_the_named_person(tmp_path: Path, mini: dict) -> None:
    """Each prepared lip clip is the mouth of the CSV's person: it matches the ROIs extracted
    from that person's half of the frame, not the other person's."""
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.lips import MouthRoiExtractor

    out = tmp_path / "out"
    report = _prepare(mini, out)
    assert report["corpus"]["clips_missing"] == 1 and report["corpus"]["rows"] == len(CLIPS) + 1
    assert report["counts"]["tt"]["written"] == 2
    assert [d["reason"] for d in report["dropped"]] == [
        f"s2 {MISSING}_00010000: not found in the corpus"]
    lips = sorted((out / "lips").glob("*.npz"))
    assert len(lips) == 5  # utts[2]'s lips are made although its mixture is dropped
    checked = set()
    with MouthRoiExtractor(str(MODEL)) as extractor:
        for path in lips:
            video, side = mini["sides"][path.stem]
            got = np.load(path)["data"]
            clip = AVSpeech(mini["clips"], csv=mini["csv"]).locate(path.stem).video
            frames, _ = read_frames_25fps(mini["clips"] / clip)
            got = got[:25]  # the first second is enough to tell the faces apart
            frames = frames[:25 + LIP_LOOKAHEAD]
            width = frames.shape[2]
            halves = {"L": (0, 0, width // 2, frames.shape[1]),
                      "R": (width // 2, 0, width, frames.shape[1])}
            diff = {s: float(np.abs(extractor.extract_frames(frames, region=box)[:len(got)]
                                    .astype(float) - got).mean()) for s, box in halves.items()}
            other = "R" if side == "L" else "L"
            assert diff[side] < 0.5 * diff[other], (path.stem, side, diff)
            checked.add((video, side))
    assert len(checked) == 4  # both people of both videos


def test_cli_reports_missing_clips(tmp_path: Path, mini: dict) -> None:
    result = CliRunner().invoke(main, [
        "prepare", "avspeech", "--csv", str(mini["csv"]), "--clips", str(mini["clips"]),
        "--out", str(tmp_path / "out"), "--mix-list", "generate", "--num-mixtures",
        "tr=2,cv=1,tt=1", "--skip-lips"])
    assert result.exit_code == 0, result.output
    assert f"clips: {len(CLIPS)} of {len(CLIPS) + 1} CSV rows on disk, 1 missing" \
        in result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"]["corpus_options"]["csv"] == str(mini["csv"])
    missing = CliRunner().invoke(main, [
        "prepare", "avspeech", "--clips", str(mini["clips"]), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "--csv" in missing.output


@pytest.mark.slow
def test_dask_local_writes_the_bytes_of_a_local_run(tmp_path: Path, mini: dict) -> None:
    _prepare(mini, tmp_path / "local")
    _prepare(mini, tmp_path / "dask", executor="dask-local:2")
    hashes = tree_hashes(tmp_path / "local")
    assert len([k for k in hashes if k.endswith(".npz")]) == 5
    assert tree_hashes(tmp_path / "dask") == hashes
