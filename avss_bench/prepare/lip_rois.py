"""Stage 3: the mouth ROIs of each source's 2 s (`OUT/lips/<utt>.npz`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Utterance
from avss_bench.data.lengths import lip_frames
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
                landmarker: str | None) -> list[dict]:
    """Extract and store the mouth ROIs of several utterances with one landmarker."""
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.lips import MouthRoiExtractor

    layout = Layout(out)
    records = []
    located: MouthRoiExtractor | None = None  # several faces per frame, for face centres
    with ExitStack() as stack:
        extractor = stack.enter_context(MouthRoiExtractor(landmarker))
        for utt, samples in items:
            need = lip_frames(samples)
            record: dict = {"utt": utt.utt, "media": utt.video}
            path = Path(root) / utt.video
            try:
                frames, fps = read_frames_25fps(path)
                if frames.shape[0] < need - 1:
                    raise AvssError(f"video too short: {frames.shape[0]} frames, its "
                                    f"{samples / SAMPLE_RATE:.3f} s of audio need {need}", path)
                clip = frames[:need + LIP_LOOKAHEAD]
                if utt.face is None:
                    rois = extractor.extract_frames(clip, fps, source=path)
                else:
                    if located is None:
                        located = stack.enter_context(MouthRoiExtractor(
                            landmarker, num_faces=FACE_CENTRE_NUM_FACES))
                    region = face_region(utt.face, clip.shape[2], clip.shape[1])
                    rois = located.extract_frames(clip, fps, region=region, source=path)
            except AvssError as err:
                record.update(ok=False, reason=reason_of(err))
            else:
                rois = np.ascontiguousarray(rois[:need], dtype=np.uint8)
                save_lips(layout.lips(utt.utt), rois)
                record.update(ok=True, frames=int(rois.shape[0]))
            write_json_record(layout.status("lips", utt.utt), record)
            records.append(record)
    return records


def lips_done(layout: Layout, utt: str) -> dict | None:
    record = read_status(layout.status("lips", utt))
    if record is None:
        return None
    if record.get("ok") and not layout.lips(utt).is_file():
        return None
    return record
