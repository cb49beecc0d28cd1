"""Video decoding: genuine LRS2 clip, truncated files, 25-fps resampling, durations."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED

from avss_bench.core.errors import AvssError
from avss_bench.io.video import (
    decode_video,
    read_frames,
    read_frames_25fps,
    resample_frames,
    resample_indices,
    video_duration,
)

CORPUS = SHARED / "data" / "corpus"
GENUINE = CORPUS / "lrs2/mvlrs_v1/main/6325910842190313542/00001.mp4"
NO_MOOV = CORPUS / "lrs2/mvlrs_v1/main/6312077425533871019/00009.mp4"
FASTSTART_CUT = CORPUS / "lrs3/trainval/b7GdWx0pLcM/50004.mp4"
H264_OK = CORPUS / "lrs3/trainval/b7GdWx0pLcM/50002.mp4"


def test_genuine_lrs2_clip_decodes_as_rgb_at_25fps() -> None:
    frames, fps = read_frames(GENUINE)
    assert frames.shape == (22, 160, 160, 3) and frames.dtype == np.uint8
    assert fps == 25.0
    video = decode_video(GENUINE)
    np.testing.assert_allclose(video.timestamps, np.arange(22) * 0.04, atol=1e-9)
    frames25, fps25 = read_frames_25fps(GENUINE)
    assert fps25 == 25.0 and np.array_equal(frames25, frames)
    # RGB order: the same pixels as FFmpeg's own rgb24 conversion through PyAV's frame API.
    import av

    with av.open(str(GENUINE)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(frames[0], first)


def test_h264_clip_frame_count_matches_header() -> None:
    frames, fps = read_frames(H264_OK)
    assert frames.shape == (100, 224, 224, 3) and fps == 25.0


def test_video_duration_reads_the_container() -> None:
    assert video_duration(GENUINE) == pytest.approx(0.88, abs=1e-9)
    assert video_duration(H264_OK) == pytest.approx(4.0, abs=1e-9)


def test_mp4_without_index_is_undecodable() -> None:
    with pytest.raises(AvssError, match="undecodable video") as info:
        read_frames(NO_MOOV)
    assert info.value.path == NO_MOOV
    assert "\n" not in str(info.value)
    with pytest.raises(AvssError, match="undecodable video"):
        video_duration(NO_MOOV)


def test_partial_decode_is_reported_not_used() -> None:
    with pytest.raises(AvssError, match="decoding failed after 45 of 100 frames") as info:
        read_frames_25fps(FASTSTART_CUT)
    assert info.value.path == FASTSTART_CUT
    frames, fps = read_frames(FASTSTART_CUT, allow_partial=True)
    assert frames.shape == (45, 224, 224, 3) and fps == 25.0


def test_missing_file_and_non_media_file(tmp_path: Path) -> None:
    with pytest.raises(AvssError, match="not found"):
        read_frames(tmp_path / "absent.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(AvssError, match="undecodable"):
        read_frames(junk)


def test_resample_indices_nearest_timestamp_exact() -> None:
    # 30 fps, 9 frames (0.3 s) -> 8 frames at 25 fps; nearest of k/30 to each k/25.
    ts = np.arange(9) / 30.0
    assert resample_indices(ts, 30.0).tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    # 12.5 fps: every other 25-fps instant is a tie, which goes to the earlier frame.
    ts = np.arange(3) * 0.08
    assert resample_indices(ts, 12.5).tolist() == [0, 0, 1, 1, 2, 2]
    # 50 fps -> every second frame.
    assert resample_indices(np.arange(10) / 50.0, 50.0).tolist() == [0, 2, 4, 6, 8]
    # Regular 25 fps: nothing to do; irregular 25 fps timestamps are resampled.
    assert resample_indices(np.arange(5) * 0.04, 25.0) is None
    jittered = np.array([0.0, 0.04, 0.09, 0.12])
    assert resample_indices(jittered, 25.0).tolist() == [0, 1, 2, 3]


def test_resample_frames_keeps_frame_content() -> None:
    frames = np.arange(9, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    out = resample_frames(frames, 30.0)
    assert out[:, 0, 0, 0].tolist() == [0, 1, 2, 4, 5, 6, 7, 8]


def _write_video(path: Path, values: list[int], fps: int) -> None:
    """A small mp4 whose frame i is flat grey ``values[i]``."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps))
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for value in values:
            image = np.full((32, 32, 3), value, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def test_30fps_file_is_resampled_to_25fps(tmp_path: Path) -> None:
    path = tmp_path / "thirty.mp4"
    values = [10 + 12 * i for i in range(18)]  # 0.6 s at 30 fps
    _write_video(path, values, 30)
    frames, fps = read_frames(path)
    assert fps == 30.0 and len(frames) == 18
    frames25, fps25 = read_frames_25fps(path)
    assert fps25 == 25.0 and len(frames25) == 15  # round(0.6 * 25)
    picked = np.rint((frames25[:, 16, 16].mean(axis=1) - 10) / 12).astype(int)
    expected = [int(np.argmin(np.abs(np.arange(18) / 30 - k / 25))) for k in range(15)]
    assert picked.tolist() == expected


def test_frame_buffer_handles_wrong_announced_counts() -> None:
    from avss_bench.io.video import _FrameBuffer

    for announced, decoded in [(2, 4), (0, 3), (5, 3), (3, 3)]:
        buffer = _FrameBuffer(announced)
        for i in range(decoded):
            buffer.append(np.full((2, 2, 3), i, np.uint8))
        out = buffer.array()
        assert out.shape == (decoded, 2, 2, 3) and out[:, 0, 0, 0].tolist() == list(range(decoded))
    with pytest.raises(ValueError, match="frame size changes"):
        buffer.append(np.zeros((3, 2, 3), np.uint8))
