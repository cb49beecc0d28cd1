"""Mouth ROIs: official geometry (exact unit values), MediaPipe landmarks on real clips, errors."""

from __future__ import annotations

import collections
import csv
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED

from avss_bench.core.errors import AvssError
from avss_bench.io.video import read_frames_25fps
from avss_bench.lips import (
    FaceLandmarkTracker,
    MouthRoiExtractor,
    extract_mouth_rois,
    landmarks_68,
    process_extractor,
)
from avss_bench.lips import landmarker as lm_module
from avss_bench.lips.ibug68 import FACEMESH_FOR_IBUG68, FACEMESH_LIPS, MOUTH_POINTS, STABLE_POINTS
from avss_bench.lips.roi import (
    MEAN_FACE_STABLE,
    apply_matrix,
    crop_origin,
    interpolate_missing,
    mouth_rois,
    roi_geometry,
    similarity_transform,
    smooth_landmarks,
)

DATA = SHARED / "data"
MODEL = DATA / "models" / "face_landmarker.task"
MEAN_FACE = DATA / "models" / "20words_mean_face.npy"
CORPUS = DATA / "corpus"
GENUINE = "lrs2/mvlrs_v1/main/6325910842190313542/00001.mp4"
LRS2_OK = [  # every LRS2 main clip that shows a face (incl. the silent-audio one)
    "lrs2/mvlrs_v1/main/5791146224735093870/00003.mp4",
    "lrs2/mvlrs_v1/main/5840235877331627012/00012.mp4",
    "lrs2/mvlrs_v1/main/6312077425533871019/00005.mp4",
    "lrs2/mvlrs_v1/main/6355861826787125225/00011.mp4",  # microphone in front of the mouth
    "lrs2/mvlrs_v1/main/6382618614178237455/00026.mp4",
    GENUINE,
]
NO_FACE = "lrs2/mvlrs_v1/main/5987233190117823115/00001.mp4"
NO_MOOV = "lrs2/mvlrs_v1/main/6312077425533871019/00009.mp4"


# ---------------------------------------------------------------- pure geometry, exact values

def test_mapping_covers_the_pipeline_points() -> None:
    assert set(FACEMESH_FOR_IBUG68) == set(STABLE_POINTS) | set(MOUTH_POINTS)
    mesh = list(FACEMESH_FOR_IBUG68.values())
    assert len(set(mesh)) == len(mesh) and all(0 <= i < 478 for i in mesh)
    from mediapipe.tasks.python.vision import FaceLandmarksConnections

    lips = {i for c in FaceLandmarksConnections.FACE_LANDMARKS_LIPS for i in (c.start, c.end)}
    assert set(FACEMESH_LIPS) == lips
    assert {FACEMESH_FOR_IBUG68[i] for i in MOUTH_POINTS} <= lips


def test_mean_face_constants_match_the_official_file() -> None:
    mean_face = np.load(MEAN_FACE)
    assert np.array_equal(MEAN_FACE_STABLE, mean_face[list(STABLE_POINTS)])


def test_interpolation_linear_inside_held_at_ends() -> None:
    points = np.zeros((7, 1, 2))
    points[2] = [[10.0, -4.0]]
    points[5] = [[16.0, 2.0]]
    points[[0, 1, 3, 4, 6]] = 999.0  # garbage in undetected frames must be ignored
    found = np.array([0, 0, 1, 0, 0, 1, 0], dtype=bool)
    out = interpolate_missing(points, found)[:, 0]
    expected = [[10, -4], [10, -4], [10, -4], [12, -2], [14, 0], [16, 2], [16, 2]]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        interpolate_missing(points, np.zeros(7, dtype=bool))


def test_smoothing_forward_window_and_tail() -> None:
    track = np.arange(15, dtype=np.float64)[:, None, None] * np.ones((1, 1, 2))
    out = smooth_landmarks(track, 12)[:, 0, 0]
    # frame t averages t..t+11 (mean t + 5.5); frames 4..14 reuse the window of frame 3.
    np.testing.assert_allclose(out, [5.5, 6.5, 7.5, 8.5] + [8.5] * 11, rtol=0, atol=1e-12)
    short = smooth_landmarks(track[:5], 12)[:, 0, 0]
    np.testing.assert_allclose(short, [2.0] * 5, rtol=0, atol=1e-12)


def test_similarity_transform_recovers_known_transform() -> None:
    rng = np.random.default_rng(4)
    src = rng.uniform(0, 160, (5, 2))
    scale, angle, shift = 1.7, 0.3, np.array([12.5, -40.25])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:2, :2], rot, rtol=0, atol=1e-12)
    np.testing.assert_allclose(matrix[:2, 2], shift, rtol=0, atol=1e-10)
    np.testing.assert_allclose(apply_matrix(matrix, src), dst, rtol=0, atol=1e-10)
    # Noisy points: the least-squares answer equals scikit-image's (what the official code used).
    from skimage.transform import estimate_transform

    noisy = dst + rng.normal(0, 2.0, dst.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = estimate_transform("similarity", src, noisy).params
    np.testing.assert_allclose(similarity_transform(src, noisy), reference, rtol=0, atol=1e-9)


def test_crop_origin_clamps_and_rounds_half_to_even() -> None:
    assert crop_origin(np.array([128.0, 150.0])) == (80, 102)
    assert crop_origin(np.array([30.0, 250.0])) == (0, 160)  # clamped inside 256x256
    assert crop_origin(np.array([100.5, 101.5])) == (52, 54)  # round(100.5)=100, round(101.5)=102


def _official_crops(frames_rgb: np.ndarray, points: list[np.ndarray | None]) -> np.ndarray:
    """The official algorithm, stated step by step (deque window, full 256x256 warp, cut)."""
    import cv2
    from skimage.transform import estimate_transform, warp

    mean_face = np.load(MEAN_FACE)
    seen = [i for i, p in enumerate(points) if p is not None]
    filled = list(points)
    for a, b in zip(seen[:-1], seen[1:], strict=True):
        for k in range(1, b - a):
            filled[a + k] = points[a] + k / float(b - a) * (points[b] - points[a])
    filled[: seen[0]] = [points[seen[0]]] * seen[0]
    filled[seen[-1]:] = [points[seen[-1]]] * (len(points) - seen[-1])

    def cut(image: np.ndarray, mouth: np.ndarray) -> np.ndarray:
        cx, cy = np.mean(mouth, axis=0)
        cy = min(max(cy, 48), 256 - 48)
        cx = min(max(cx, 48), 256 - 48)
        return image[int(round(cy) - 48): int(round(cy) + 48),
                     int(round(cx) - 48): int(round(cx) + 48)]

    out, queue, frame_queue, tform = [], collections.deque(), collections.deque(), None
    for index, frame in enumerate(frames_rgb[..., ::-1]):  # BGR, as OpenCV decodes
        queue.append(filled[index])
        frame_queue.append(frame)
        if len(queue) == 12:
            smoothed = np.mean(queue, axis=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tform = estimate_transform("similarity", smoothed[list(STABLE_POINTS)],
                                           mean_face[list(STABLE_POINTS)])
            current, image = queue.popleft(), frame_queue.popleft()
            warped = (warp(image, inverse_map=tform.inverse, output_shape=(256, 256)) * 255)
            out.append(cut(warped.astype(np.uint8), tform(current)[48:68]))
    while queue:
        image = frame_queue.popleft()
        warped = (warp(image, inverse_map=tform.inverse, output_shape=(256, 256)) * 255)
        out.append(cut(warped.astype(np.uint8), tform(queue.popleft())[48:68]))
    return np.stack([cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_BGR2GRAY) for c in out])


# ---------------------------------------------------------------- MediaPipe on real clips

@pytest.fixture(scope="module")
def extractor():
    with MouthRoiExtractor(MODEL) as ex:
        yield ex


@pytest.fixture(scope="module")
def tracks(extractor):
    """Frames and landmark tracks of the LRS2 clips, computed once per module."""
    cache = {}

    def get(clip: str):
        if clip not in cache:
            frames, _ = read_frames_25fps(CORPUS / clip)
            cache[clip] = frames, extractor.landmarks(frames, keep_facemesh=True)
        return cache[clip]

    return get


def _header_frames() -> dict[str, int]:
    with open(CORPUS / "detection_report.tsv", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {r["clip"]: int(r["header_frames"]) for r in rows if r["header_frames"]}


@pytest.mark.parametrize("clip", LRS2_OK)
def test_face_in_every_frame_and_crops_on_the_mouth(clip: str, tracks) -> None:
    frames, track = tracks(clip)
    assert len(frames) == _header_frames()[clip]
    assert track.found.all()
    stable_and_mouth = list(STABLE_POINTS) + list(MOUTH_POINTS)
    assert np.isfinite(track.points[:, stable_and_mouth]).all()
    geometry = roi_geometry(track.points, track.found)
    # MediaPipe's own lip contour (40 points), mapped by the same transform, sits at the crop
    # centre (48, 48) within a few pixels in every frame.
    lips = track.facemesh[:, list(FACEMESH_LIPS), :2].mean(axis=1)
    mapped = np.stack([apply_matrix(m, p) for m, p in zip(geometry.matrices, lips, strict=True)])
    offset = np.linalg.norm(mapped - (geometry.origins + 48), axis=1)
    assert offset.max() < 4.0, offset.max()
    # Scale: the outer eye corners land about as far apart as on the mean face (74.2 px).
    eyes = np.stack([apply_matrix(m, p[[36, 45]])
                     for m, p in zip(geometry.matrices, geometry.landmarks, strict=True)])
    spread = np.median(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=1))
    assert abs(spread / np.linalg.norm(MEAN_FACE_STABLE[4] - MEAN_FACE_STABLE[1]) - 1) < 0.1


def test_fast_crops_equal_the_official_algorithm(tracks) -> None:
    frames, track = tracks(GENUINE)
    found = track.found.copy()
    found[[0, 5, 6, 7, 21]] = False  # exercise interpolation and held ends
    ours = mouth_rois(frames, track.points, found)
    points = [p if f else None for p, f in zip(track.points, found, strict=True)]
    official = _official_crops(frames, points)
    assert ours.shape == official.shape == (22, 96, 96)
    diff = np.abs(ours.astype(int) - official.astype(int))
    # Only the window is warped (same sampling); float rounding may flip a truncation by 1.
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_public_function_shape_dtype_and_frame_count(tracks) -> None:
    rois = extract_mouth_rois(CORPUS / GENUINE, MODEL)
    assert rois.shape == (22, 96, 96) and rois.dtype == np.uint8
    frames, track = tracks(GENUINE)
    assert np.array_equal(rois, mouth_rois(frames, track.points, track.found))
    # A crop is a mouth, not background: textured and mid-grey.
    assert 40 < rois.mean() < 220 and rois.std() > 10


def test_reused_extractor_is_independent_of_previous_clip(extractor) -> None:
    extractor.extract(CORPUS / LRS2_OK[0])  # something else first
    again = extractor.extract(CORPUS / GENUINE)
    with MouthRoiExtractor(MODEL) as fresh:
        assert np.array_equal(again, fresh.extract(CORPUS / GENUINE))


def test_short_clip_and_process_extractor(tracks) -> None:
    frames, track = tracks(GENUINE)
    extractor = process_extractor(MODEL)
    assert process_extractor(MODEL) is extractor
    short = extractor.extract_frames(frames[:8])  # shorter than the 12-frame window
    assert short.shape == (8, 96, 96) and short.dtype == np.uint8
    assert np.array_equal(short, mouth_rois(frames[:8], track.points[:8], track.found[:8]))


def test_no_face_clip_raises(extractor) -> None:
    with pytest.raises(AvssError, match="no face detected in any frame") as info:
        extractor.extract(CORPUS / NO_FACE)
    assert info.value.path == CORPUS / NO_FACE


def test_truncated_mp4_raises() -> None:
    with pytest.raises(AvssError, match="undecodable video"):
        extract_mouth_rois(CORPUS / NO_MOOV, MODEL)


def test_face_fraction_threshold(extractor, tracks) -> None:
    frames, _ = tracks(GENUINE)
    hidden = frames.copy()
    hidden[3:18] = 0  # 15 of 22 frames without a face -> 7/22 = 31.8 %
    with pytest.raises(AvssError, match=r"face found in only 31.8% of frames \(7 of 22"):
        extractor.extract_frames(hidden, 25.0, source="clip.mp4")
    with MouthRoiExtractor(MODEL, min_face_fraction=0.3) as lenient:
        rois = lenient.extract_frames(hidden, 25.0)
    assert rois.shape == (22, 96, 96)


def test_extract_frames_resamples_other_rates(extractor, tracks) -> None:
    frames, _ = tracks(GENUINE)
    doubled = np.repeat(frames, 2, axis=0)  # the same clip at 50 fps
    assert np.array_equal(extractor.extract_frames(doubled, 50.0),
                          extractor.extract_frames(frames, 25.0))


def test_region_and_several_faces(tracks) -> None:
    frames, track = tracks(GENUINE)
    frames = frames[:6]
    canvas = np.concatenate([frames, frames], axis=2)  # split screen: two faces side by side
    with FaceLandmarkTracker(MODEL) as tracker:
        right = landmarks_68(canvas, tracker, region=(160, 0, 320, 160))
    assert right.found.all()
    shifted = right.points[:, list(MOUTH_POINTS)] - [160.0, 0.0]
    np.testing.assert_allclose(shifted, track.points[:6, list(MOUTH_POINTS)], atol=1e-4)
    with FaceLandmarkTracker(MODEL, num_faces=2) as tracker:
        faces = tracker.detect(canvas[0])
        left = landmarks_68(canvas, tracker, region=(0, 0, 200, 160))
    assert len(faces) == 2
    assert sorted(int(f[:, 0].mean() // 160) for f in faces) == [0, 1]
    assert left.found.all() and np.nanmax(left.points[..., 0]) < 160


# ---------------------------------------------------------------- model file resolution

@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv(lm_module.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def test_bundled_model_is_the_offline_default(clean_env, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(clean_env / "empty-home"))
    bundled = lm_module.bundled_model_path()
    assert bundled.parent.name == "models" and bundled.parent.parent.name == "lips"
    assert (bundled.parent / "NOTICE.md").read_text().count("Apache License 2.0") == 1
    assert lm_module.resolve_landmarker_path(download=False) == bundled
    assert lm_module.resolve_landmarker_path() == bundled  # download allowed, not needed
    assert bundled.read_bytes() == MODEL.read_bytes()
    assert lm_module.sha256_of(bundled) == lm_module.MODEL_SHA256


def test_resolution_order(clean_env, monkeypatch) -> None:
    tmp = clean_env
    bundled = tmp / "bundled" / "face_landmarker.task"
    monkeypatch.setattr(lm_module, "bundled_model_path", lambda: bundled)
    with pytest.raises(AvssError, match="no FaceLandmarker model"):
        lm_module.resolve_landmarker_path(download=False)
    bundled.parent.mkdir()
    bundled.symlink_to(MODEL)
    assert lm_module.resolve_landmarker_path(download=False) == bundled
    cached = lm_module.default_cache_path()
    assert cached == tmp / "cache" / "avss-bench" / "face_landmarker.task"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(MODEL)
    assert lm_module.resolve_landmarker_path(download=False) == cached  # cache beats bundled
    other = tmp / "other.task"
    other.symlink_to(MODEL)
    monkeypatch.setenv(lm_module.ENV_VAR, str(other))
    assert lm_module.resolve_landmarker_path() == other
    assert lm_module.resolve_landmarker_path(MODEL) == MODEL  # explicit beats the env var
    with pytest.raises(AvssError, match="landmarker model not found"):
        lm_module.resolve_landmarker_path(tmp / "missing.task")
    monkeypatch.setenv(lm_module.ENV_VAR, str(tmp / "gone.task"))
    with pytest.raises(AvssError, match="AVSS_BENCH_LANDMARKER not found"):
        lm_module.resolve_landmarker_path()


def test_damaged_cache_and_bundle_are_not_used(clean_env, monkeypatch) -> None:
    bundled = clean_env / "bundled" / "face_landmarker.task"
    bundled.parent.mkdir()
    bundled.write_bytes(b"truncated")
    monkeypatch.setattr(lm_module, "bundled_model_path", lambda: bundled)
    cached = lm_module.default_cache_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"corrupt")
    with pytest.raises(AvssError, match="no FaceLandmarker model.*sha256 differs"):
        lm_module.resolve_landmarker_path(download=False)
    fetched: list[Path] = []
    monkeypatch.setattr(lm_module, "download_model", lambda dest: fetched.append(dest) or dest)
    assert lm_module.resolve_landmarker_path() == cached  # the download is the last resort
    assert fetched == [cached]


def test_download_checks_sha256(tmp_path: Path) -> None:
    assert lm_module.sha256_of(MODEL) == lm_module.MODEL_SHA256
    dest = tmp_path / "dl" / "face_landmarker.task"
    lm_module.download_model(dest, url=MODEL.as_uri())  # a local file:// URL, no network
    assert lm_module.sha256_of(dest) == lm_module.MODEL_SHA256
    bad = tmp_path / "bad" / "face_landmarker.task"
    with pytest.raises(AvssError, match="sha256"):
        lm_module.download_model(bad, url=MEAN_FACE.as_uri())
    assert not bad.exists() and list(bad.parent.iterdir()) == []


def test_patch_warp_gives_the_bytes_of_the_whole_frame_warp() -> None:
    """`warp_crop` reads only the patch under the crop; on a 1080p frame of a real video, for
    crops inside, across the edge of and off the frame, at scales from 0.15 to 2.5, it must
    give exactly what scikit-image's `warp` gives on the whole frame (the official call)."""
    from skimage.transform import warp

    from avss_bench.io.video import FrameStream
    from avss_bench.lips.roi import warp_crop

    frame = next(iter(FrameStream(DATA / "videos" / "iianet_debate.mp4"))).copy()
    dim = (frame // 2 + 40).astype(np.uint8)  # range [40, 167]: warp's clip widens to 0
    rng = np.random.default_rng(7)
    height, width = frame.shape[:2]
    for case in range(120):
        angle, scale = rng.uniform(-0.5, 0.5), rng.uniform(0.15, 2.5)
        matrix = np.array([
            [scale * np.cos(angle), -scale * np.sin(angle), rng.uniform(-1.2, 0.3) * width],
            [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-1.2, 0.3) * height],
            [0.0, 0.0, 1.0]])
        origin = (int(rng.integers(-40, 200)), int(rng.integers(-40, 200)))
        image = dim if case % 3 == 0 else frame
        shift = np.array([[1.0, 0.0, origin[0]], [0.0, 1.0, origin[1]], [0.0, 0.0, 1.0]])
        inverse = np.linalg.inv(matrix) @ shift
        expected = (warp(image, inverse_map=inverse, output_shape=(96, 96)) * 255
                    ).astype(np.uint8)
        np.testing.assert_array_equal(warp_crop(image, matrix, origin), expected,
                                      err_msg=f"case {case}")
