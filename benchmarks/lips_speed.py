"""Frames per second per core of the mouth-ROI stage (decode -> FaceLandmarker -> crops).

Pins the process to one CPU core (so MediaPipe's worker threads share it), runs every clip of
the shared LRS2/LRS3/VoxCeleb2 miniatures that shows a face through one reused
:class:`~avss_bench.lips.MouthRoiExtractor` ``--repeats`` times, and reports the best pass per
stage. "MediaPipe alone" is ``detect_for_video`` on the decoded frames with nothing else.
Two figures per stage: frames per wall-clock second, and frames per CPU-second of this process
(all its threads), which is what one uncontended core delivers even when the machine is busy.

    python benchmarks/lips_speed.py [--core 0] [--repeats 3] [--corpus ../shared/data/corpus]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "corpus"
DEFAULT_MODEL = ROOT.parent / "shared" / "data" / "models" / "face_landmarker.task"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--landmarker", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: no pinning)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})  # before MediaPipe starts its threads

    import mediapipe as mp
    import numpy as np

    from avss_bench.core.errors import AvssError
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.lips import MouthRoiExtractor
    from avss_bench.lips.roi import mouth_rois

    clips = []
    for path in sorted(args.corpus.glob("**/*.mp4")):
        try:
            clips.append((path, read_frames_25fps(path)[0]))
        except AvssError:
            continue  # truncated files
    stages = ("decode", "mediapipe", "landmarks", "crops")
    totals = {(k, c): np.inf for k in stages for c in ("wall", "cpu")}
    frames_total = 0
    with MouthRoiExtractor(args.landmarker) as extractor:
        for _ in range(args.repeats):
            spent = dict.fromkeys(totals, 0.0)

            def timed(stage: str, start: tuple[float, float], spent=spent) -> None:
                spent[stage, "wall"] += time.perf_counter() - start[0]
                spent[stage, "cpu"] += time.process_time() - start[1]

            def now() -> tuple[float, float]:
                return time.perf_counter(), time.process_time()

            frames_total = 0
            for path, frames in clips:
                start = now()
                read_frames_25fps(path)
                timed("decode", start)
                tracker = extractor.tracker
                tracker.reset()
                start = now()
                for frame in frames:  # MediaPipe alone, same timestamps policy
                    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                    tracker._landmarker.detect_for_video(image, tracker._timestamp_ms)
                    tracker._timestamp_ms += 40
                timed("mediapipe", start)
                start = now()
                track = extractor.landmarks(frames)
                timed("landmarks", start)
                if not track.found.any():
                    continue  # no-face clips: landmarks were still paid for, no crops
                start = now()
                mouth_rois(frames, track.points, track.found)
                timed("crops", start)
                frames_total += len(frames)
            totals = {k: min(totals[k], spent[k]) for k in totals}
    frames_all = sum(len(f) for _, f in clips)
    count = {"decode": frames_all, "mediapipe": frames_all, "landmarks": frames_all,
             "crops": frames_total}
    names = {
        "decode": "decode (PyAV, RGB)",
        "mediapipe": "MediaPipe FaceLandmarker alone (VIDEO mode)",
        "landmarks": "landmarks (MediaPipe + iBUG-68 mapping)",
        "crops": "crops (interpolate, smooth, transform, warp, grey)",
    }
    core = f"core {args.core}" if args.core >= 0 else "unpinned"
    print(f"{len(clips)} clips, {frames_all} frames ({frames_total} with a face), {core}, "
          f"best of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    print("| stage | frames/s (wall) | frames per CPU-second |")
    print("|---|---|---|")
    for stage in stages:
        print(f"| {names[stage]} | {count[stage] / totals[stage, 'wall']:.1f} | "
              f"{count[stage] / totals[stage, 'cpu']:.1f} |")
    whole = {c: sum(totals[k, c] for k in ("decode", "landmarks", "crops"))
             for c in ("wall", "cpu")}
    print(f"| **whole ROI stage** (decode + landmarks + crops) | "
          f"**{frames_all / whole['wall']:.1f}** | **{frames_all / whole['cpu']:.1f}** |")

if __name__ == "__main__":
    main()
