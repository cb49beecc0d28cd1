"""`avss-bench separate`: separate each visible speaker's voice in a video."""

from __future__ import annotations

from pathlib import Path

import click

from avss_bench.cli._common import quiet_option, random_init_option, separator_options
from avss_bench.core.numbers import Bounds, number_option


@click.command(context_settings={"show_default": True})
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speakers", "-n", default=2, type=click.IntRange(min=1),
              help="How many faces (voices) to separate: the most prominent ones.")
@separator_options
@random_init_option
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder  [default: separated/<video name>]")
@click.option("--landmarker", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MediaPipe face_landmarker.task (default: $AVSS_BENCH_LANDMARKER, the cache, "
                   "else the model bundled with avss-bench); its face detector does the "
                   "tracking.")
@number_option("--chunk-seconds", default=4.0, bounds=Bounds(0.08, 3600.0),
               help="Separation window (50% overlap-add), bounds memory on long videos.")
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if present).")
@click.option("--no-video", is_flag=True,
              help="Write only the wavs and tracks.json (skips encoding speaker_k.mp4 and the "
                   "index.html page).")
@quiet_option
def command(video: Path, speakers: int, model: str | None, checkpoint: Path | None,
            frontend_checkpoint: Path | None, random_init: bool, out: Path | None,
            landmarker: Path | None, chunk_seconds: float, device: str | None,
            no_video: bool, quiet: bool) -> None:
    """Separate the voice of each of the N most prominent faces in VIDEO.

    Tracks the faces (MediaPipe), extracts each one's lip ROIs like `prepare`, separates
    each voice from the soundtrack at 16 kHz, and writes per speaker (numbered left to right)
    OUT/speaker_k.wav, OUT/speaker_k.mp4 (that voice on the video, the face boxed), plus
    OUT/index.html (open from disk: switch between the speakers' videos, face tracks, DNSMOS
    of every track) and OUT/tracks.json (face box per frame, detection coverage, DNSMOS).

    \b
      avss-bench separate debate.mp4 --speakers 2 --model iianet -c iianet_lrs2.pt
      avss-bench separate talk.mp4 -n 1 -c runs/demo/best.pt -o out/talk
    """
    from avss_bench.separate.pipeline import separate_video

    out = out if out is not None else Path("separated") / video.stem
    result = separate_video(video, out, model=model, checkpoint=checkpoint,
                            frontend_checkpoint=frontend_checkpoint, random_init=random_init,
                            speakers=speakers,
                            landmarker=landmarker, chunk_seconds=chunk_seconds, device=device,
                            write_videos=not no_video, quiet=quiet)
    if not quiet:
        for k, (wav, track, lips) in enumerate(zip(result.wavs, result.tracks, result.lips,
                                                   strict=True)):
            mp4 = result.videos[k].name if result.videos else "-"
            click.echo(f"speaker {k + 1}: {wav.name}, {mp4}  face detected in "
                       f"{100 * track.coverage:.0f}% of frames, lips in "
                       f"{100 * lips.coverage:.0f}%")
    page = f", {result.page.name}" if result.page is not None else ""
    click.echo(f"wrote {result.out_dir} ({result.num_samples / 16000:.2f} s, "
               f"tracks.json{page})")
