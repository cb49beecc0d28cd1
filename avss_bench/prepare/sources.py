"""Stage 2: the first 2 s of each utterance at 16 kHz and its P.56 level."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Utterance
from avss_bench.prepare.records import Layout, read_status, reason_of, write_json_record


def extract_source(root: str, utt: Utterance, out: str, segment: float,
                   min_seconds: float) -> dict:
    """Decode, measure and store one utterance's 2 s source; returns its status record."""
    from avss_bench.io.audio import decode_audio, write_wav
    from avss_bench.prepare.mixing import level_8k

    layout = Layout(out)
    record: dict = {"utt": utt.utt, "media": utt.audio}
    try:
        x = decode_audio(Path(root) / utt.audio, seconds=segment)
    except AvssError as err:
        record.update(ok=False, reason=reason_of(err))
    else:
        level = level_8k(x)
        samples = int(x.size)
        if not level.power > 0:
            record.update(ok=False, reason="silent audio (P.56 active level is 0: digital "
                                           "silence)")
        elif samples < min_seconds * SAMPLE_RATE:
            record.update(ok=False, reason=f"too short: {samples / SAMPLE_RATE:.3f} s of audio "
                                           f"< {min_seconds:g} s")
        else:
            write_wav(layout.raw(utt.utt), np.round(x * 32768).astype(np.int16))
            record.update(ok=True, num_samples=samples, level=level.power,
                          short=samples < round(segment * SAMPLE_RATE))
    write_json_record(layout.status("audio", utt.utt), record)
    return record


def source_done(layout: Layout, utt: str) -> dict | None:
    record = read_status(layout.status("audio", utt))
    if record is None:
        return None
    if record.get("ok"):
        raw = layout.raw(utt)
        if not raw.is_file() or raw.stat().st_size != 44 + 2 * record["num_samples"]:
            return None
    return record


def source_batch(root: str, utts: Sequence[Utterance], out: str, segment: float,
                  min_seconds: float) -> list[dict]:
    return [extract_source(root, u, out, segment, min_seconds) for u in utts]
