"""Stage 3: the mouth ROIs of each source's 2 s (`OUT/lips/<utt>.npz`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from avss_bench.core.atomic import write_bytes
from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Utterance
from avss_bench.data.lengths import lip_frames
from avss_bench.lips.store import LipStore, content_sha256, entry_key
from avss_bench.prepare.records import Layout, read_status, reason_of, save_lips, write_json_record

#: extra frames given to the lip tracker past the segment, so the 12-frame smoothing window of
#: the last kept frames sees the real future frames (as when the whole clip is processed)
LIP_LOOKAHEAD = 11
#: faces the landmarker may report when an utterance names its face centre (the nearest is kept)
FACE_CENTRE_NUM_FACES = 4
#: smallest face-centre search box, as a fraction of the frame's width and height
MIN_FACE_BOX = 0.25


def face_region(face: tuple[float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The search box of a face centre given as frame fractions: the largest box centred on
    it that fits the frame (so any face centred there and inside the frame is whole in it,
    and the face nearest the box centre is the one named), at least `MIN_FACE_BOX` of the
    frame wide and high."""
    cx, cy = face[0] * width, face[1] * height
    half_w = max(min(cx, width - cx), MIN_FACE_BOX * width / 2)
    half_h = max(min(cy, height - cy), MIN_FACE_BOX * height / 2)
    return (int(round(cx - half_w)), int(round(cy - half_h)),
            int(round(cx + half_w)), int(round(cy + half_h)))


def lips_batch(root: str, items: Sequence[tuple[Utterance, int]], out: str,
               landmarker: str | None, store: str | None = None) -> list[dict]:
    """Extract and store the mouth ROIs of several utterances with one landmarker.

    With `store` (a folder, `avss_bench.lips.store`), a clip whose crops are stored under the
    same key (clip bytes, landmarker, ROI parameters) is not decoded or tracked again: its npz
    bytes are copied (or its failure reason reused); new outcomes are added to the store.
    """
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.lips import MouthRoiExtractor

    layout = Layout(out)
    records = []
    lip_store = None if store is None else LipStore(store)
    landmarker_sha: str | None = None
    with ExitStack() as stack:
        extractors: dict[int, MouthRoiExtractor] = {}  # by num_faces, opened on first use

        def extractor(num_faces: int) -> MouthRoiExtractor:
            if num_faces not in extractors:
                extractors[num_faces] = stack.enter_context(
                    MouthRoiExtractor(landmarker, num_faces=num_faces))
            return extractors[num_faces]

        for utt, samples in items:
            need = lip_frames(samples)
            record: dict = {"utt": utt.utt, "media": utt.video}
            path = Path(root) / utt.video
            key = None
            if lip_store is not None:
                if landmarker_sha is None:
                    landmarker_sha = _landmarker_sha256(landmarker)
                key = _store_key(path, need, utt, landmarker_sha)
            stored = lip_store.get(key) if lip_store is not None and key is not None else None
            if stored is not None:
                entry, data = stored
                if data is not None:
                    write_bytes(layout.lips(utt.utt), data)
                    record.update(ok=True, frames=int(entry["frames"]))
                else:
                    record.update(ok=False, reason=str(entry["reason"]))
                write_json_record(layout.status("lips", utt.utt), record)
                records.append(record)
                continue
            try:
                frames, fps = read_frames_25fps(path)
                if frames.shape[0] < need - 1:
                    raise AvssError(f"video too short: {frames.shape[0]} frames, its "
                                    f"{samples / SAMPLE_RATE:.3f} s of audio need {need}", path)
                clip = frames[:need + LIP_LOOKAHEAD]
                if utt.face is None:
                    rois = extractor(1).extract_frames(clip, fps, source=path)
                else:
                    region = face_region(utt.face, clip.shape[2], clip.shape[1])
                    rois = extractor(FACE_CENTRE_NUM_FACES).extract_frames(
                        clip, fps, region=region, source=path)
            except AvssError as err:
                record.update(ok=False, reason=reason_of(err))
                if lip_store is not None and key is not None:
                    lip_store.put(key, {"ok": False, "reason": record["reason"]})
            else:
                rois = np.ascontiguousarray(rois[:need], dtype=np.uint8)
                save_lips(layout.lips(utt.utt), rois)
                record.update(ok=True, frames=int(rois.shape[0]))
                if lip_store is not None and key is not None:
                    lip_store.put(key, {"ok": True, "frames": record["frames"]},
                                  layout.lips(utt.utt).read_bytes())
            write_json_record(layout.status("lips", utt.utt), record)
            records.append(record)
    return records


def _landmarker_sha256(landmarker: str | None) -> str:
    from avss_bench.lips import resolve_landmarker_path

    return content_sha256(resolve_landmarker_path(landmarker))


def _store_key(path: Path, need: int, utt: Utterance, landmarker_sha: str) -> str | None:
    """The store key of an utterance's crops (None when the clip cannot be read: no reuse)."""
    from avss_bench.lips.extract import DEFAULT_MIN_FACE_FRACTION

    try:
        media = content_sha256(path)
    except OSError:
        return None
    params = {"frames": need, "lookahead": LIP_LOOKAHEAD,
              "min_face_fraction": DEFAULT_MIN_FACE_FRACTION,
              "face": None if utt.face is None else [float(c) for c in utt.face],
              "num_faces": 1 if utt.face is None else FACE_CENTRE_NUM_FACES,
              "min_face_box": MIN_FACE_BOX if utt.face is not None else None}
    return entry_key(media, landmarker_sha, params)


def lips_done(layout: Layout, utt: str) -> dict | None:
    record = read_status(layout.status("lips", utt))
    if record is None:
        return None
    if record.get("ok") and not layout.lips(utt).is_file():
        return None
    return record
