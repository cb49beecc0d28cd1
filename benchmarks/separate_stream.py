"""Peak memory and time of `avss-bench separate` on long videos (streaming).

Generates a long 1080p talking-heads video by looping a real split-screen clip
(``../shared/data/videos/iianet_debate.mp4``, 1920x1080, two faces, 13.4 s) with its soundtrack
(packets remuxed, nothing decoded or re-encoded, so making 10 minutes takes seconds), then runs
``separate_video`` (2 speakers, ``tiny-av`` at random init: the pipeline is measured, not the
model) in a fresh process per length, set up as the ``avss-bench`` command sets itself up
(``configure_process``), and reports that process's peak RSS (``ru_maxrss``) and
wall time, its CPU time (user + system: the figure that does not depend on what else runs on
the machine), with the per-stage timings from ``tracks.json``.

    python benchmarks/separate_stream.py --minutes 1 5 --out /tmp/sep-bench [--no-video]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "videos" / "iianet_debate.mp4"
LANDMARKER = ROOT.parent / "shared" / "data" / "models" / "face_landmarker.task"

CHILD = """
import json, resource, sys, time
from avss_bench.core.runtime import configure_process
configure_process()  # what the avss-bench command does first
from avss_bench.separate.pipeline import separate_video
video, out, landmarker, write = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
start = time.perf_counter()
result = separate_video(video, out, model="tiny-av", speakers=2, landmarker=landmarker,
                        write_videos=write, quiet=True)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024,
                  "stages": result.timings}))
"""


def make_long_video(path: Path, minutes: float) -> None:
    """Loop the source clip to ``minutes`` by remuxing its packets (no decode, no re-encode).

    Each loop's packets of a stream start where that stream's previous loop ended, so the
    timestamps keep rising; the audio (13.421 s per loop) gains 21 ms on the video (13.400 s)
    per loop, about 1 s in 10 minutes, which does not matter for memory and time. Written to a
    temp name, then renamed.
    """
    import av

    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(SOURCE)) as template, av.open(str(tmp), "w") as out:
        limit_s = minutes * 60
        loops = math.ceil(limit_s / (template.duration / 1e6))
        streams = {s.index: out.add_stream_from_template(s) for s in template.streams
                   if s.type in ("video", "audio")}
        end: dict[int, int] = {}
        for _ in range(loops):
            shift: dict[int, int] = {}
            with av.open(str(SOURCE)) as src:
                for packet in src.demux(*[s for s in src.streams if s.index in streams]):
                    if packet.dts is None:
                        continue
                    index = packet.stream.index
                    if index not in shift:  # first packet of this loop: continue the stream
                        shift[index] = end.get(index, packet.dts) - packet.dts
                    packet.pts += shift[index]
                    packet.dts += shift[index]
                    if packet.dts * packet.time_base >= limit_s:
                        continue  # past the requested length (the last loop is cut short)
                    end[index] = packet.dts + (packet.duration or 0)
                    packet.stream = streams[index]
                    out.mux(packet)
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/avss-separate-stream"))
    parser.add_argument("--no-video", action="store_true", help="skip the speaker_k.mp4 files")
    args = parser.parse_args()
    rows = []
    for minutes in args.minutes:
        video = args.out / f"debate_{minutes:g}min.mp4"
        start = time.perf_counter()
        make_long_video(video, minutes)
        made = time.perf_counter() - start
        run = subprocess.run(
            [sys.executable, "-c", CHILD, str(video), str(args.out / f"sep_{minutes:g}"),
             str(LANDMARKER), "0" if args.no_video else "1"],
            check=True, capture_output=True, text=True)
        row = json.loads(run.stdout.strip().splitlines()[-1])
        row.update(minutes=minutes, generate_seconds=round(made, 1))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| video | peak RSS | wall time | CPU time | stages (s) |")
    print("|---|---|---|---|---|")
    for row in rows:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in row["stages"].items())
        print(f"| {row['minutes']:g} min 1080p | {row['peak_rss_mb'] / 1024:.2f} GB | "
              f"{row['seconds']:.0f} s | {row['cpu_seconds']:.0f} s | {stages} |")


if __name__ == "__main__":
    main()
