"""Stage 3: the mouth ROIs of each source's 2 s (`OUT/lips/<utt>.npz`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE, VIDEO_FPS
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Utterance
from avss_bench.prepare.records import Layout, read_status, reason_of, save_lips, write_json_record

#: extra frames given to the lip tracker past the segment, so the 12-frame smoothing window of
#: the last kept frames sees the real future frames (as when the whole clip is processed)
LIP_LOOKAHEAD = 11


def lip_frames_for(num_samples: int) -> int:
    """Video frames (25 fps) covering `num_samples` of 16 kHz audio: round(T * 25 / 16000)."""
    return max(1, int(math.floor(num_samples * VIDEO_FPS / SAMPLE_RATE + 0.5)))


def lips_batch(root: str, items: Sequence[tuple[Utterance, int]], out: str,
                landmarker: str | None) -> list[dict]:
    """Extract and store the mouth ROIs of several utterances with one landmarker."""
    from avss_bench.io.video import read_frames_25fps
    from avss_bench.lips import MouthRoiExtractor

    layout = Layout(out)
    records = []
    with MouthRoiExtractor(landmarker) as extractor:
        for utt, samples in items:
            need = lip_frames_for(samples)
            record: dict = {"utt": utt.utt, "media": utt.video}
            path = Path(root) / utt.video
            try:
                frames, fps = read_frames_25fps(path)
                if frames.shape[0] < need - 1:
                    raise AvssError(f"video too short: {frames.shape[0]} frames, its "
                                    f"{samples / SAMPLE_RATE:.3f} s of audio need {need}", path)
                rois = extractor.extract_frames(frames[:need + LIP_LOOKAHEAD], fps, source=path)
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
