"""Separate each visible speaker's voice in a video: faces -> lip ROIs -> separator -> files.

:func:`separate_video` runs the whole pipeline:

1. decode the soundtrack (16 kHz mono, :func:`avss_bench.io.audio.decode_audio`) and the frames,
   resampled to 25 fps (:func:`avss_bench.io.video.read_frames_25fps`);
2. find and track the N most prominent faces (:func:`avss_bench.lips.tracking.track_faces`);
3. per face, the mouth ROIs of the ``prepare`` pipeline: FaceLandmarker runs on a square region
   around the tracked box (``crop_margin`` times its size) and its landmarks are mapped back to
   frame pixels, so the 12-frame landmark smoothing and the similarity warp to the mean face
   happen on the source frames exactly as for a corpus clip;
4. the separator extracts each speaker from the mixture given their lips, over windows of
   ``chunk_seconds`` with 50% overlap (:func:`separate_chunked`), so any length fits in memory;
5. writes ``speaker_k.wav`` (16 kHz int16), ``speaker_k.mp4`` (the 25-fps video with that face
   boxed, muxed with that voice), ``index.html`` (those videos, the face tracks and each
   track's DNSMOS, :mod:`avss_bench.separate.page`; with the videos only) and ``tracks.json``
   (boxes per frame, detection coverage, DNSMOS), written last.

Speakers are numbered left to right (by the mean centre of their face box).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avss_bench.core.atomic import write_json
from avss_bench.core.constants import SAMPLE_RATE, VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.data.lengths import fit_frames, lip_frames
from avss_bench.lips.tracking import FaceTrack

DEFAULT_CHUNK_SECONDS = 4.0
DEFAULT_CROP_MARGIN = 1.8
#: Box colours (RGB) of speakers 1, 2, ... in the output videos.
PALETTE = [(255, 64, 64), (64, 160, 255), (64, 220, 64), (255, 200, 0), (220, 64, 255),
           (0, 220, 220)]


# ------------------------------------------------------------------------ chunked separation

def chunk_plan(num_samples: int, chunk_frames: int, samples_per_frame: int
               ) -> tuple[int, int, list[int]]:
    """Where the windows of :func:`separate_chunked` start.

    Returns:
        ``(window, padded_length, starts)`` in samples: one window covering everything when the
        signal is no longer than a window, else windows of ``chunk_frames`` frames every half
        window, the signal zero-padded to ``padded_length`` so the last one is whole.
    """
    if chunk_frames < 2 or chunk_frames % 2:
        raise ValueError("chunk_frames must be an even number >= 2")
    window = chunk_frames * samples_per_frame
    if num_samples <= window:
        return num_samples, num_samples, [0]
    hop = window // 2
    count = math.ceil((num_samples - window) / hop) + 1
    return window, (count - 1) * hop + window, [k * hop for k in range(count)]


@torch.inference_mode()
def separate_chunked(model: torch.nn.Module, mixture: np.ndarray | torch.Tensor,
                     lips: torch.Tensor | np.ndarray | None, *,
                     chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                     sample_rate: int = SAMPLE_RATE, fps: float = VIDEO_FPS,
                     device: str | torch.device = "cpu",
                     progress: Callable[[int], Any] | None = None,
                     name: str | None = None, source: str | Path | None = None) -> np.ndarray:
    """Run a separator over a signal of any length by overlap-add.

    Windows of ``chunk_seconds`` (rounded to an even number of video frames) start every half
    window; lips are cut in sync (``sample_rate / fps`` samples per frame). Each output window
    is weighted by a periodic Hann window, whose halves sum to one where two windows overlap;
    the first half of the first window and the second half of the last keep weight one, so an
    identity separator returns its input unchanged. The padded tail is zeros.

    Args:
        model: a separator, ``forward(mixture [B, T], lips [B, 1, F, 88, 88]) -> [B, T]``.
        mixture: ``[T]`` float samples.
        lips: ``[1, F, 88, 88]`` normalised lip frames (`lips_to_tensor`), or the ``uint8
            [F, 96, 96]`` mouth ROIs themselves (normalised window by window, so a long video's
            lips are never held as floats), or ``None`` for audio-only separators; shorter or
            longer than the audio is fine.
        chunk_seconds: window length.
        sample_rate, fps: rates of audio and lips (their ratio must be an integer).
        device: where the model runs (it must already be there).
        progress: called with 1 after each window.
        name: the model, named in contract errors.
        source: the input, named in errors.

    Returns:
        ``float64 [T]``, the estimate.

    Raises:
        AvssError: the model's output breaks the Separator contract (``[1, window]`` float,
            checked on every window) or holds NaN/inf (the window is named).
    """
    samples_per_frame = sample_rate / fps
    if abs(samples_per_frame - round(samples_per_frame)) > 1e-9:
        raise ValueError(f"{sample_rate} Hz is not a whole number of samples per {fps} fps frame")
    spf = int(round(samples_per_frame))
    wav = torch.as_tensor(np.asarray(mixture, dtype=np.float32)).reshape(-1)
    length = wav.numel()
    chunk_frames = max(2, 2 * round(chunk_seconds * fps / 2))
    window, padded, starts = chunk_plan(length, chunk_frames, spf)
    wav = torch.nn.functional.pad(wav, (0, padded - length))
    rois: np.ndarray | None = None
    if isinstance(lips, np.ndarray):
        rois, lips = lips, None
    elif lips is not None:
        lips = fit_frames(lips, math.ceil(padded / spf))
    label = name or type(model).__name__
    out = np.zeros(padded, dtype=np.float64)
    norm = np.zeros(padded, dtype=np.float64)
    half = window // 2
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(window) / window)
    for index, start in enumerate(starts):
        weight = hann.copy()
        if index == 0:
            weight[:half] = 1.0
        if index == len(starts) - 1:
            weight[half:] = 1.0
        piece = wav[start:start + window].unsqueeze(0).to(device)
        lip_piece = None
        first, count = start // spf, lip_frames(window, sample_rate, fps)  # data.lengths
        if lips is not None:
            lip_piece = lips[:, first:first + count].unsqueeze(0).to(device)
        elif rois is not None:
            lip_piece = window_lips(rois, first, count).unsqueeze(0).to(device)
        estimate = model(piece, lip_piece)
        check_window(estimate, window, index, start / sample_rate, window / sample_rate,
                     label, source)
        out[start:start + window] += weight * estimate.reshape(-1).double().cpu().numpy()
        norm[start:start + window] += weight
        if progress is not None:
            progress(1)
    return out[:length] / norm[:length]


def window_lips(rois: np.ndarray, first: int, count: int) -> torch.Tensor:
    """``[1, count, 88, 88]`` normalised lips of frames ``first ..`` (last frame held)."""
    from avss_bench.data.dataset import lips_to_tensor

    last = len(rois) - 1
    index = np.minimum(np.arange(first, first + count), last)
    return lips_to_tensor(rois[index])


def check_window(estimate: Any, window: int, index: int, start_s: float, length_s: float,
                 model: str, source: str | Path | None) -> None:
    """The Separator contract on one window's output, and finiteness (errors name both)."""
    if not isinstance(estimate, torch.Tensor) or not estimate.is_floating_point() \
            or tuple(estimate.shape) != (1, window):
        got = (f"{estimate.dtype} {list(estimate.shape)}" if isinstance(estimate, torch.Tensor)
               else type(estimate).__name__)
        raise AvssError(f"separator '{model}' broke the Separator contract: returned {got} "
                        f"for a window of {window} samples, expected float [1, {window}] "
                        "([B, T] like its input mixture)", source)
    if not bool(torch.isfinite(estimate).all()):
        raise AvssError(f"separator '{model}' returned NaN/inf in window {index + 1} "
                        f"({start_s:.2f}-{start_s + length_s:.2f} s)", source)


# --------------------------------------------------------------------------------- lip ROIs

def crop_regions(track: FaceTrack, width: int, height: int,
                 margin: float = DEFAULT_CROP_MARGIN) -> np.ndarray:
    """Square regions around a track's boxes, shifted to stay inside the frame.

    Returns:
        ``int64 [F, 4]`` ``(x0, y0, x1, y1)`` per frame; the side is ``margin`` times the box's
        larger side (at most the frame's smaller side).
    """
    boxes = track.boxes
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    side = margin * np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    side = np.clip(np.round(side), 16, min(width, height)).astype(np.int64)
    x0 = np.clip(np.round(centre[:, 0] - side / 2.0).astype(np.int64), 0, width - side)
    y0 = np.clip(np.round(centre[:, 1] - side / 2.0).astype(np.int64), 0, height - side)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


@dataclass(frozen=True)
class SpeakerLips:
    """Mouth ROIs of one tracked speaker.

    Attributes:
        rois: ``uint8 [F, 96, 96]`` grey mouth crops at 25 fps (the Lip ROI contract).
        found: ``bool [F]``, frames where FaceLandmarker found the face in its region.
        regions: ``int64 [F, 4]`` the regions given to FaceLandmarker.
    """

    rois: np.ndarray
    found: np.ndarray
    regions: np.ndarray

    @property
    def coverage(self) -> float:
        """Share of frames with landmarks."""
        return float(self.found.mean()) if self.found.size else 0.0


# ----------------------------------------------------------------------------------- outputs

@contextmanager
def boxes_drawn(frames_rgb: np.ndarray, boxes: np.ndarray, colour: tuple[int, int, int],
                label: str) -> Iterator[np.ndarray]:
    """Draw a labelled rectangle per frame *in place*, and restore the pixels afterwards.

    Drawing in place avoids a second copy of a long high-resolution video; only the patches
    under the rectangles are saved.
    """
    import cv2

    count, height, width = frames_rgb.shape[:3]
    thick = max(2, round(min(height, width) / 270))
    scale = max(0.5, min(height, width) / 720)
    (text_w, text_h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    saved: list[tuple[int, int, int, int, int, np.ndarray]] = []
    try:
        for index in range(count):
            x0, y0, x1, y1 = (int(round(v)) for v in boxes[index])
            px0, py0 = max(0, x0 - thick), max(0, y0 - text_h - base - 2 * thick - 1)
            px1 = min(width, max(x1, x0 + text_w + 2 * thick) + thick + 1)
            py1 = min(height, max(y1, y0 + text_h + base + 2 * thick) + thick + 1)
            if px1 <= px0 or py1 <= py0:
                continue
            frame = frames_rgb[index]
            saved.append((index, py0, py1, px0, px1, frame[py0:py1, px0:px1].copy()))
            cv2.rectangle(frame, (x0, y0), (x1, y1), colour, thick)
            # The label sits on a filled tab above the box (inside it when there is no room).
            tab_y0 = y0 - text_h - base - 2 * thick
            if tab_y0 < 0:
                tab_y0 = y0
            tab_y1 = tab_y0 + text_h + base + 2 * thick
            cv2.rectangle(frame, (x0 - thick // 2, tab_y0), (x0 + text_w + 2 * thick, tab_y1),
                          colour, cv2.FILLED)
            cv2.putText(frame, label, (x0 + thick, tab_y1 - base - thick),
                        cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, thick // 2),
                        cv2.LINE_AA)
        yield frames_rgb
    finally:
        for index, py0, py1, px0, px1, patch in reversed(saved):
            frames_rgb[index, py0:py1, px0:px1] = patch


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    write_json(path, payload, indent=1)


@dataclass(frozen=True)
class SeparationResult:
    """What :func:`separate_video` wrote and found.

    Attributes:
        out_dir: the output folder.
        wavs, videos: ``speaker_k.wav`` / ``speaker_k.mp4`` paths, speaker 1 first.
        tracks_json: the ``tracks.json`` path.
        tracks: the tracked faces, left to right.
        lips: their mouth ROIs.
        estimates: ``float64 [N, T]`` the separated voices (before any peak scaling).
        num_samples: ``T``, the soundtrack's length at 16 kHz.
        timings: seconds spent per stage.
        page: the ``index.html`` path (``None`` without videos).
    """

    out_dir: Path
    wavs: list[Path]
    videos: list[Path]
    tracks_json: Path
    tracks: list[FaceTrack]
    lips: list[SpeakerLips]
    estimates: np.ndarray
    num_samples: int
    timings: dict[str, float]
    page: Path | None = None


def audio_start_time(path: Path) -> float:
    """Presentation time (s) of the first audio packet, in the container's clock (0 if unset)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            if stream.start_time is None or stream.time_base is None:
                return 0.0
            return float(stream.start_time * stream.time_base)
    except (av.error.FFmpegError, OSError, IndexError):
        return 0.0  # decode_audio has already reported a real problem


def align_lips(rois: np.ndarray, offset_frames: int) -> np.ndarray:
    """Put the lip frames on the soundtrack's clock.

    ``offset_frames`` > 0: the video starts that many frames after the audio, so the first lip
    frame is held over the audio before it; < 0: the video starts first, so its leading frames
    (no audio under them) are dropped.
    """
    if offset_frames > 0:
        return np.concatenate([np.repeat(rois[:1], offset_frames, axis=0), rois])
    if offset_frames < 0:
        return rois[min(-offset_frames, len(rois) - 1):]
    return rois


def landmark_pass(stream: Any, tracks: list[FaceTrack], regions: list[np.ndarray],
                  model_path: Path, quiet: bool) -> tuple[list[Any], Any]:
    """One decode of the video: FaceLandmarker per speaker in its region, frame by frame.

    Returns:
        a :class:`avss_bench.lips.extract.LandmarkTrack` per speaker, and an extractor (for
        its `check_track`).
    """
    from contextlib import ExitStack

    from tqdm import tqdm

    from avss_bench.lips import MouthRoiExtractor
    from avss_bench.lips.extract import LandmarkTrack, face_in_region
    from avss_bench.lips.ibug68 import to_ibug68
    from avss_bench.lips.landmarker import NUM_LANDMARKS

    count = len(regions[0])
    points = [np.full((count, 68, 2), np.nan) for _ in tracks]
    found = [np.zeros(count, dtype=bool) for _ in tracks]
    step_ms = round(1000.0 / VIDEO_FPS)
    mesh = np.full((1, NUM_LANDMARKS, 3), np.nan)
    with ExitStack() as stack:
        extractors = [stack.enter_context(MouthRoiExtractor(model_path, num_faces=2))
                      for _ in tracks]
        for extractor in extractors:
            extractor.tracker.reset()
        for index, frame in enumerate(tqdm(stream, total=count, desc="lip landmarks",
                                           unit="frame", disable=quiet)):
            for k, extractor in enumerate(extractors):
                face = face_in_region(extractor.tracker, frame, regions[k][index], step_ms,
                                      indices=None)
                if face is not None:
                    mesh[0] = face
                    points[k][index] = to_ibug68(mesh)[0]
                    found[k][index] = True
        checker = extractors[0]
    return [LandmarkTrack(points=p, found=f) for p, f in zip(points, found, strict=True)], \
        checker


def roi_pass(stream: Any, geometries: list[Any], count: int, quiet: bool) -> list[np.ndarray]:
    """One decode of the video: each speaker's 96x96 grey mouth crop, frame by frame."""
    from tqdm import tqdm

    from avss_bench.lips.roi import CROP_SIZE, to_gray, warp_crop

    rois = [np.empty((count, CROP_SIZE, CROP_SIZE), dtype=np.uint8) for _ in geometries]
    for index, frame in enumerate(tqdm(stream, total=count, desc="lip ROIs", unit="frame",
                                       disable=quiet)):
        for k, geo in enumerate(geometries):
            crop = warp_crop(frame, geo.matrices[index], tuple(geo.origins[index]), CROP_SIZE)
            rois[k][index] = to_gray(crop[None])[0]
    return rois


def separate_video(video: str | Path, out_dir: str | Path, *,
                   model: str | torch.nn.Module | None = None,
                   checkpoint: str | Path | None = None,
                   frontend_checkpoint: str | Path | None = None, random_init: bool = False,
                   speakers: int = 2, landmarker: str | Path | None = None,
                   chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                   crop_margin: float = DEFAULT_CROP_MARGIN, device: str | None = None,
                   write_videos: bool = True, quiet: bool = False) -> SeparationResult:
    """Separate the voices of the ``speakers`` most prominent faces of ``video``.

    The video is never held in memory: it is decoded frame by frame once to detect faces, once
    for the lip landmarks, once for the mouth crops and once for all the ``speaker_k.mp4``;
    what is kept are the detections, landmarks, 96x96 crops and the 16 kHz soundtrack (about
    0.3 GB per speaker for 10 minutes). Audio and video are put on one clock by their streams'
    start times (see :func:`align_lips`).

    Args:
        video: any file FFmpeg reads with a video and an audio stream.
        out_dir: output folder (created; earlier ``separate`` outputs in it are removed).
        model: a registered separator name or ``package.module:Class``, or a loaded module;
            None: the separator ``checkpoint`` records.
        checkpoint: weights for ``model`` (when given by name).
        frontend_checkpoint: weights for its visual encoder, when the checkpoint lacks them.
        random_init: allow random weights (a trainable separator without a checkpoint, or a
            checkpoint without the visual encoder's weights); never for real use.
        speakers: how many faces (voices) to separate.
        landmarker: the FaceLandmarker ``.task`` bundle (``None``: option > env var > cache >
            download, as ``prepare``); its face detector is used for tracking.
        chunk_seconds: separation window (50% overlap).
        crop_margin: FaceLandmarker region side over the tracked face box side.
        device: ``cpu``, ``cuda``, ... (default: CUDA when available).
        write_videos: also write ``speaker_k.mp4``.
        quiet: no progress bars.

    Raises:
        AvssError: missing or undecodable video, no audio track, fewer faces than
            ``speakers``, a face whose lips are found too rarely, unknown model or checkpoint,
            random weights without ``random_init``,
            a device that is not there, an output that breaks the Separator contract or is
            not finite, an output folder that cannot be written.
    """
    from tqdm import tqdm

    from avss_bench.core.device import resolve_device
    from avss_bench.io.audio import decode_audio, to_int16, write_wav
    from avss_bench.io.video import FrameStream
    from avss_bench.lips.landmarker import resolve_landmarker_path
    from avss_bench.lips.roi import roi_geometry
    from avss_bench.lips.tracking import track_faces
    from avss_bench.separate.outputs import clear_outputs, make_stamp
    from avss_bench.separate.page import score_dnsmos, write_page

    if speakers < 1:
        raise AvssError(f"--speakers must be at least 1, got {speakers}")
    if chunk_seconds <= 0:
        raise AvssError(f"--chunk-seconds must be positive, got {chunk_seconds}")
    video = Path(video)
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    # Cheap checks first: a wrong device or checkpoint fails before minutes of decoding.
    run_on = resolve_device(device)
    if isinstance(model, torch.nn.Module):
        net, model_name = model.eval(), type(model).__name__
    else:
        from avss_bench.models.contract import is_trainable
        from avss_bench.models.registry import load_separator, model_from_checkpoint

        checkpoint = None if checkpoint is None else Path(checkpoint)
        model_name = model_from_checkpoint(model, checkpoint)
        net = load_separator(model_name, checkpoint=checkpoint,
                             frontend_checkpoint=frontend_checkpoint,
                             random_frontend=random_init)
        if checkpoint is None and is_trainable(net) and not random_init:
            raise AvssError(f"'{model_name}' has trainable weights but no --checkpoint was "
                            "given; pass --random-init to separate with random weights")
    net = net.to(run_on)
    stream = FrameStream(video)
    mixture = decode_audio(video)
    audio_start = audio_start_time(video)
    model_path = resolve_landmarker_path(landmarker)
    lap("load")

    tracks = track_faces(stream, speakers, model=model_path, source=video, quiet=quiet)
    num_frames = int(stream.count or 0)
    width, height = stream.width, stream.height
    lap("track")

    regions = [crop_regions(track, width, height, crop_margin) for track in tracks]
    landmarks, checker = landmark_pass(stream, tracks, regions, model_path, quiet)
    for k, track_lm in enumerate(landmarks):
        try:
            checker.check_track(track_lm)
        except AvssError as err:
            raise AvssError(f"speaker {k + 1}: lip landmarks: {err}", video) from None
    geometries = [roi_geometry(lm.points, lm.found) for lm in landmarks]
    rois = roi_pass(stream, geometries, num_frames, quiet)
    lips = [SpeakerLips(rois=r, found=lm.found, regions=reg)
            for r, lm, reg in zip(rois, landmarks, regions, strict=True)]
    lap("lips")

    offset_s = stream.start_time - audio_start
    offset_frames = int(round(offset_s * VIDEO_FPS))
    chunk_frames = max(2, 2 * round(chunk_seconds * VIDEO_FPS / 2))
    windows = len(chunk_plan(len(mixture), chunk_frames, int(SAMPLE_RATE / VIDEO_FPS))[2])
    estimates = []
    with tqdm(total=windows * len(tracks), desc="separating", unit="window",
              disable=quiet) as bar:
        for speaker in lips:
            estimates.append(separate_chunked(
                net, mixture, align_lips(speaker.rois, offset_frames),
                chunk_seconds=chunk_seconds, device=run_on, progress=bar.update,
                name=model_name, source=video))
    lap("separate")

    options = {"speakers": speakers, "chunk_seconds": chunk_seconds,
               "crop_margin": crop_margin, "write_videos": write_videos,
               "landmarker": str(model_path)}
    stamp = make_stamp(video, model_name, None if checkpoint is None else Path(checkpoint),
                       options)
    clear_outputs(out_dir)
    wavs, videos, speakers_json, voices = [], [], [], []
    offset_samples = int(round(offset_s * SAMPLE_RATE))
    for k, (estimate, track, speaker) in enumerate(zip(estimates, tracks, lips, strict=True)):
        peak = float(np.max(np.abs(estimate))) if estimate.size else 0.0
        gain = 1.0 / peak if peak > 1.0 else 1.0  # never clip: scale a too loud estimate down
        voice = estimate * gain
        voices.append(voice)
        wav_path = out_dir / f"speaker_{k + 1}.wav"
        write_wav(wav_path, to_int16(voice), SAMPLE_RATE)
        wavs.append(wav_path)
        speakers_json.append({
            "speaker": k + 1, "wav": wav_path.name, "gain": round(gain, 6),
            "coverage": round(track.coverage, 4), "lip_coverage": round(speaker.coverage, 4),
            "prominence": round(track.prominence, 1),
            "mean_centre": [round(float(v), 1) for v in track.centres.mean(axis=0)],
            "boxes": np.round(track.boxes, 1).tolist(),
            "detected": track.detected.astype(int).tolist(),
        })
    if write_videos:
        videos = [out_dir / f"speaker_{k + 1}.mp4" for k in range(len(tracks))]
        write_speaker_mp4s(videos, stream, tracks, voices, offset_samples, num_frames, quiet)
        for entry, mp4_path, voice in zip(speakers_json, videos, voices, strict=True):
            entry["mp4"] = mp4_path.name
            entry["dnsmos"] = score_dnsmos(voice)
    lap("write")
    tracks_json = out_dir / "tracks.json"
    meta = {
        "video": str(video), "fps": VIDEO_FPS, "num_frames": num_frames, "width": int(width),
        "height": int(height), "sample_rate": SAMPLE_RATE, "num_samples": int(len(mixture)),
        "model": model_name, "checkpoint": None if checkpoint is None else str(checkpoint),
        "chunk_seconds": chunk_seconds, "av_offset_seconds": round(offset_s, 6),
        "box_format": "x0, y0, x1, y1 (pixels, per 25-fps frame)",
        "stamp": stamp, "seconds": timings, "speakers": speakers_json,
    }
    page = None
    if write_videos:  # the page shows the videos; tracks.json stays the last file written
        meta["mixture_dnsmos"] = score_dnsmos(mixture)
        lap("dnsmos")
        page = write_page(out_dir, meta, meta["mixture_dnsmos"], PALETTE)
    _write_json(tracks_json, meta)
    return SeparationResult(out_dir=out_dir, wavs=wavs, videos=videos, tracks_json=tracks_json,
                            tracks=list(tracks), lips=lips, estimates=np.stack(estimates),
                            num_samples=int(len(mixture)), timings=timings, page=page)


def write_speaker_mp4s(paths: list[Path], stream: Any, tracks: list[FaceTrack],
                       voices: list[np.ndarray], offset_samples: int, num_frames: int,
                       quiet: bool) -> None:
    """``speaker_k.mp4`` for every speaker from one more decode of the video: each frame gets
    speaker k's face boxed and goes to video k; each voice is put on the video's clock
    (``offset_samples``: how far the video starts after the audio).

    Previews: x264 ``ultrafast`` and FFmpeg's colour conversion (``exact_colour=False``), which
    together encode 1080p several times faster than the archival defaults.
    """
    from contextlib import ExitStack

    from tqdm import tqdm

    from avss_bench.io.video_write import Mp4Writer

    width, height = stream.width - stream.width % 2, stream.height - stream.height % 2
    with ExitStack() as stack:
        writers = []
        for path, voice in zip(paths, voices, strict=True):
            if offset_samples >= 0:
                audio = voice[offset_samples:]
            else:
                audio = np.concatenate([np.zeros(-offset_samples), voice])
            writers.append(stack.enter_context(Mp4Writer(
                path, width, height, VIDEO_FPS, audio.astype(np.float32), SAMPLE_RATE, crf=23,
                preset="ultrafast", exact_colour=False)))
        for index, frame in enumerate(tqdm(stream, total=num_frames, desc="writing videos",
                                           unit="frame", disable=quiet)):
            for k, (writer, track) in enumerate(zip(writers, tracks, strict=True)):
                row = min(index, len(track.boxes) - 1)
                with boxes_drawn(frame[None], track.boxes[row:row + 1],
                                 PALETTE[k % len(PALETTE)], f"speaker {k + 1}"):
                    writer.write(frame[:height, :width])
        for writer in writers:
            writer.finish()
