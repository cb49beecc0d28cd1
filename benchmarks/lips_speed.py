"""Frames per second per core of the mouth-ROI stage (decode -> FaceLandmarker -> crops).

Pins the process to one CPU core (so MediaPipe's worker threads share it), runs every clip of
the shared LRS2/LRS3/VoxCeleb2 miniatures that shows a face through one reused
:class:`~avss_bench.lips.MouthRoiExtractor` ``--repeats`` times, and reports the best pass per
stage. "MediaPipe alone" is ``detect_for_video`` on the decoded frames with nothing else.

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

    from avss_bench.errors import AvssError
    from avss_bench.lips import MouthRoiExtractor
    from avss_bench.lips.roi import mouth_rois
    from avss_bench.video import read_frames_25fps

    clips = []
    for path in sorted(args.corpus.glob("**/*.mp4")):
        try:
            clips.append((path, read_frames_25fps(path)[0]))
        except AvssError:
            continue  # truncated files
    totals = {"decode": np.inf, "mediapipe": np.inf, "landmarks": np.inf, "crops": np.inf}
    frames_total = 0
    with MouthRoiExtractor(args.landmarker) as extractor:
        for _ in range(args.repeats):
            spent = dict.fromkeys(totals, 0.0)
            frames_total = 0
            for path, frames in clips:
                start = time.perf_counter()
                read_frames_25fps(path)
                spent["decode"] += time.perf_counter() - start
                tracker = extractor.tracker
                tracker.reset()
                start = time.perf_counter()
                for frame in frames:  # MediaPipe alone, same timestamps policy
                    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                    tracker._landmarker.detect_for_video(image, tracker._timestamp_ms)
                    tracker._timestamp_ms += 40
                spent["mediapipe"] += time.perf_counter() - start
                start = time.perf_counter()
                track = extractor.landmarks(frames)
                spent["landmarks"] += time.perf_counter() - start
                if not track.found.any():
                    continue  # no-face clips: landmarks were still paid for, no crops
                start = time.perf_counter()
                mouth_rois(frames, track.points, track.found)
                spent["crops"] += time.perf_counter() - start
                frames_total += len(frames)
            totals = {k: min(totals[k], spent[k]) for k in totals}
    frames_all = sum(len(f) for _, f in clips)
    whole = totals["decode"] + totals["landmarks"] + totals["crops"]
    core = f"core {args.core}" if args.core >= 0 else "unpinned"
    print(f"{len(clips)} clips, {frames_all} frames ({frames_total} with a face), {core}, "
          f"best of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    print("| stage | frames/s |")
    print("|---|---|")
    print(f"| decode (PyAV, RGB) | {frames_all / totals['decode']:.0f} |")
    print(f"| MediaPipe FaceLandmarker alone (VIDEO mode) | "
          f"{frames_all / totals['mediapipe']:.1f} |")
    print(f"| landmarks (MediaPipe + conversion to iBUG-68) | "
          f"{frames_all / totals['landmarks']:.1f} |")
    print(f"| crops (interpolate, smooth, transform, warp, grey) | "
          f"{frames_total / totals['crops']:.0f} |")
    print(f"| **whole ROI stage** | **{frames_all / whole:.1f}** |")


if __name__ == "__main__":
    main()
