"""The test-set record of each prepared split (`manifests/<split>.testset.json`).

Made from the mixtures the split really holds (a dropped line changes the set) by
`avss_bench.io.testset` (fingerprint) and `avss_bench.corpora.testsets` (what it is, its label).
A robustness condition of `prepare` (noise, reverberation, absent face, another source length) on
the same mixtures is a condition of their clean set; N speakers are a list of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from avss_bench.corpora.base import Corpus
from avss_bench.corpora.testsets import describe
from avss_bench.io.testset import (
    STANDARD_SEGMENT_SECONDS,
    TestSet,
    canonical_line,
    fingerprint_of,
)
from avss_bench.prepare.conditions import Conditions
from avss_bench.prepare.lists import SplitList
from avss_bench.prepare.mixlist import MixLine


def condition_text(conditions: Conditions, segment_seconds: float) -> str | None:
    """What a prepared condition changes, in words (None for the clean benchmark)."""
    parts = []
    if conditions.noise_dir:
        lo, hi = conditions.snr_db
        parts.append(f"noise of {Path(conditions.noise_dir).name} at SNR {lo:g} to {hi:g} dB")
    if conditions.rir_dir:
        parts.append(f"reverberation (RIRs of {Path(conditions.rir_dir).name})")
    if conditions.simulate_rooms:
        lo, hi = conditions.rt60
        parts.append(f"simulated rooms, RT60 {lo:g} to {hi:g} s")
    if conditions.target_absent:
        parts.append("target absent (lips of a silent third face)")
    if float(segment_seconds) != STANDARD_SEGMENT_SECONDS:
        parts.append(f"{float(segment_seconds):g} s sources")
    return ", ".join(parts) or None


def split_test_set(corp: Corpus, item: SplitList, lines: Sequence[MixLine],
                   conditions: Conditions, seed: int, segment_seconds: float,
                   name: str | None = None) -> TestSet:
    """The TestSet of one prepared split.

    Args:
        corp: the corpus.
        item: the split's list (its origin, source and size).
        lines: the mixtures written (kept lines, with their conditions).
        conditions: the run's conditions; seed: of generated lists and conditions.
        name: what labels call the data instead of the corpus (the demo: ``demo``).
    """
    full = fingerprint_of((canonical_line(line.utts, line.gains_db,
                                          line.condition.record() if line.condition else None)
                           for line in lines), segment_seconds)
    base = fingerprint_of(canonical_line(line.utts, line.gains_db) for line in lines)
    speakers = len(lines[0].utts) if lines else conditions.speakers
    # a given list is named by its file name and content (its folder is not part of what the
    # test set is: the same list anywhere is the same set; report.json keeps the full path)
    source = Path(item.source).name if item.origin == "file" else item.source
    details = {"source": source, "list_sha256": item.sha256}
    if item.origin == "generated":
        details = {}
    if float(segment_seconds) != STANDARD_SEGMENT_SECONDS:
        details["segment_seconds"] = float(segment_seconds)
    return describe(corp.name, item.split, fingerprint=full, base_fingerprint=base,
                    n=len(lines), speakers=speakers, origin=item.origin,
                    listed=len(item.lines), details=details,
                    official_total=item.full_size or None, seed=seed,
                    condition=condition_text(conditions, segment_seconds), name=name)
