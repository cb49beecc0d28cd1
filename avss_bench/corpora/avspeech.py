"""AVSpeech -> AVSpeech-2Mix (seeded 2-speaker lists; no official mixture lists exist).

Inputs: the official CSV (`avspeech_train.csv` or `avspeech_test.csv`, no header; one segment
per row: YouTube id, start s, end s, face centre x, y as fractions of the frame) given as
`--csv`, and the folder of downloaded clips given as `--clips` (or `--root`), one clip per row,
already cut to its segment. `--clip-pattern` names a row's clip relative to that folder, with
the fields `{ytid}`, `{start}`, `{end}` (the CSV's text verbatim, e.g. `90.000000`; a format
spec such as `{start:.3f}` reads it as a number). The default, `{ytid}_{start}_{end}.mp4`, is
what the common downloaders write (naba89/AVSpeechDownloader and its forks); the newest
AVSpeechDownloader writes `{ytid}/{ytid}_{start}_{end}_video.mp4`.

The flat utterance id is `<ytid>_<start in ms, 8 digits>`. AVSpeech has no speaker labels:
the YouTube id is the speaker, so generated tr/cv/tt are disjoint by YouTube id (seeded). The
face centre picks the speaker's face when several are visible (the lip tracker follows the face
nearest it). Rows whose clip is not on disk (deleted videos, failed downloads) are counted and
reported in report.json, never fatal.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Corpus, CorpusOption, Utterance, split_speakers

DEFAULT_CLIP_PATTERN = "{ytid}_{start}_{end}.mp4"
_SIZES = {"tr": 20000, "cv": 5000, "tt": 3000}


class _Number(str):
    """A CSV field kept verbatim, formatted as a number when given a format spec."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec) if spec else str(self)


@dataclass(frozen=True)
class Segment:
    """One CSV row."""

    ytid: str
    start: str
    end: str
    x: float
    y: float

    @property
    def utt(self) -> str:
        return f"{self.ytid}_{round(float(self.start) * 1000):08d}"


def read_csv(path: Path) -> list[Segment]:
    """The rows of an AVSpeech CSV, checked (one-line error naming the file and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AvssError(f"cannot read the AVSpeech CSV: {err}", path) from err
    rows = []
    for lineno, cols in enumerate(csv.reader(text.splitlines()), start=1):
        if not cols or not "".join(cols).strip():
            continue
        if len(cols) != 5:
            raise AvssError(f"line {lineno}: expected 5 columns (YouTube id, start, end, face x, "
                            f"face y), got {len(cols)}", path)
        ytid, start, end, x, y = (c.strip() for c in cols)
        try:
            fx, fy, t0, t1 = float(x), float(y), float(start), float(end)
        except ValueError:
            raise AvssError(f"line {lineno}: start, end, x, y must be numbers", path) from None
        if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0) or t1 <= t0 or t0 < 0:
            raise AvssError(f"line {lineno}: face centre outside [0, 1] or empty segment", path)
        rows.append(Segment(ytid, start, end, fx, fy))
    return rows


class AVSpeech(Corpus):
    """AVSpeech (YouTube clips + the official CSV), mixed into AVSpeech-2Mix."""

    name = "avspeech"
    title = "AVSpeech"
    utt_pattern = r"[A-Za-z0-9_-]{11}_\d{8}"
    default_sizes = _SIZES
    options = (
        CorpusOption("--csv", "csv", "The official AVSpeech CSV (avspeech_train.csv or "
                     "avspeech_test.csv).", required=True, is_path=True),
        CorpusOption("--clip-pattern", "clip_pattern",
                     "A row's clip under --clips; fields {ytid}, {start}, {end} (CSV text).",
                     default=DEFAULT_CLIP_PATTERN),
    )
    root_aliases = ("--clips",)

    def __init__(self, root: str | Path, csv: str | Path | None = None,
                 clip_pattern: str = DEFAULT_CLIP_PATTERN) -> None:
        if csv is None:
            raise AvssError("AVSpeech needs --csv (the official avspeech_*.csv)", root)
        self.csv = Path(csv).expanduser()
        self.clip_pattern = clip_pattern or DEFAULT_CLIP_PATTERN
        super().__init__(root)
        self.rows: dict[str, Segment] = {}
        self.duplicates = 0
        for row in read_csv(self.csv):
            if row.utt in self.rows:
                self.duplicates += 1
            else:
                self.rows[row.utt] = row
        self._missing: list[str] | None = None

    def check_layout(self) -> None:
        try:
            self.clip_rel(Segment("x" * 11, "0.0", "1.0", 0.5, 0.5))
        except (KeyError, IndexError, ValueError) as err:
            raise AvssError(f"--clip-pattern '{self.clip_pattern}' uses an unknown field or "
                            f"format ({err}); fields: ytid, start, end", self.root) from None
        probes = [Segment("a" * 11, "0.000000", "3.000000", 0.5, 0.5),
                  Segment("b" * 11, "0.000000", "3.000000", 0.5, 0.5),
                  Segment("a" * 11, "12.000000", "15.000000", 0.5, 0.5)]
        if len({self.clip_rel(p) for p in probes}) < len(probes):
            raise AvssError(f"--clip-pattern '{self.clip_pattern}' gives several rows the same "
                            "clip: it must name the video and the segment, {ytid} and {start} "
                            "(a row is one segment of one YouTube video)", self.root)

    def clip_rel(self, row: Segment) -> str:
        return self.clip_pattern.format(ytid=row.ytid, start=_Number(row.start),
                                        end=_Number(row.end))

    def _utterance(self, row: Segment) -> Utterance | None:
        rel = self.clip_rel(row)
        if not (self.root / rel).is_file():
            return None
        return Utterance(row.utt, row.ytid, "clips", rel, rel, face=(row.x, row.y))

    def locate(self, utt: str) -> Utterance | None:
        row = self.rows.get(utt)
        return None if row is None else self._utterance(row)

    def utterances(self) -> list[Utterance]:
        found, missing = [], []
        for utt in sorted(self.rows):
            u = self._utterance(self.rows[utt])
            (found if u is not None else missing).append(u or utt)
        self._missing = missing
        return found

    def pools(self, splits: Sequence[str], fixed_speakers: Mapping[str, set[str]],
              seed: int | str) -> dict[str, list[Utterance]]:
        """tt, cv, tr: disjoint by YouTube id, sized in proportion to the default list sizes
        (every split is always assigned, so the split of a video does not depend on which
        splits are prepared); videos used by given lists are left out."""
        fixed = set().union(*fixed_speakers.values()) if fixed_speakers else set()
        pool = [u for u in self.utterances() if u.speaker not in fixed]
        total = sum(_SIZES.values())
        tt, rest = split_speakers(pool, _SIZES["tt"] / total, 2, f"{seed}:tt")
        cv, tr = split_speakers(rest, _SIZES["cv"] / (total - _SIZES["tt"]), 2, f"{seed}:cv")
        found = {"tr": tr, "cv": cv, "tt": tt}
        return {split: found[split] for split in splits}

    def summary(self) -> dict:
        """Rows of the CSV and how many have no clip on disk (with the first few ids)."""
        if self._missing is None:
            self.utterances()
        missing = self._missing or []
        return {"csv": str(self.csv), "clip_pattern": self.clip_pattern,
                "rows": len(self.rows), "duplicate_rows": self.duplicates,
                "clips_found": len(self.rows) - len(missing), "clips_missing": len(missing),
                "missing_examples": [self.clip_rel(self.rows[u]) for u in missing[:20]]}
