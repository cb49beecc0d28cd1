"""Data sanity: mixtures that would make a mean meaningless, found by `prepare` and `validate`.

Per mixture (errors):

* **same recording**: two of its sources are the same utterance, or their waveforms are the
  same recording: the peak of their normalised cross-correlation (over every lag) is at least
  :data:`SAME_RECORDING_CORRELATION`. Two clips cut from one soundtrack correlate at 1.0; the
  unprocessed mixture then scores ~80 dB and every separator ~-95 dB SI-SNRi on it.
* **silent source**: a source whose RMS over the mixture's segment is below
  :data:`SILENT_DBFS` dB full scale: there is nothing to separate.

Per split and across splits:

* **empty split** (error): a requested split with no mixture;
* **duplicated mixtures** (warning): a mixture whose set of utterances an earlier mixture of
  the same split already mixed (at any gains, in any order); its targets count twice;
* **speaker in two splits** (warning): a speaker of one split also speaks in another (the
  official VoxCeleb2-2Mix cv and tt lists share theirs by design; a train/test overlap
  measures seen voices).

Each finding is ``{"level": "error"|"warning", "check": ..., "split": ..., "mixture": ...,
"message": ...}``; `prepare` counts them in `report.json` and prints them, `validate` lists
the errors as problems and counts the warnings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from avss_bench.core.errors import AvssError

SAME_RECORDING_CORRELATION = 0.9
SILENT_DBFS = -60.0
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class MixtureSources:
    """What the cross-mixture checks need of one mixture."""

    split: str
    mixture: str
    utts: tuple[str, ...]
    speakers: tuple[str, ...]


def finding(level: str, check: str, split: str, mixture: str | None, message: str) -> dict:
    return {"level": level, "check": check, "split": split, "mixture": mixture,
            "message": message}


def peak_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """max over lags of |sum a[t] b[t + lag]| / (|a| |b|): 1.0 for one recording at any shift
    that overlaps fully, 0 for a silent signal."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return 0.0
    size = 1 << int(np.ceil(np.log2(max(1, a.size + b.size - 1))))
    cross = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    return float(np.max(np.abs(cross)) / norm)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS in dB relative to full scale (float samples in [-1, 1])."""
    x = np.asarray(x, dtype=np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    return -np.inf if power <= 0 else 10 * np.log10(power)


def source_findings(split: str, mixture: str, utts: Sequence[str],
                    signals: Sequence[np.ndarray | None]) -> list[dict]:
    """The per-mixture checks: same utterance, same recording, silent source.

    `signals` are the sources as mixed (float, full scale 1.0; None when unreadable), cut to
    the mixture's length.
    """
    found = []
    for i in range(len(utts)):
        for j in range(i + 1, len(utts)):
            pair = f"s{i + 1} and s{j + 1}"
            if utts[i] == utts[j]:
                found.append(finding(ERROR, "same recording", split, mixture,
                                     f"{pair} are the same utterance {utts[i]}"))
                continue
            a, b = signals[i], signals[j]
            if a is None or b is None:
                continue
            corr = peak_correlation(a, b)
            if corr >= SAME_RECORDING_CORRELATION:
                found.append(finding(
                    ERROR, "same recording", split, mixture,
                    f"{pair} ({utts[i]}, {utts[j]}) are the same recording: waveform "
                    f"correlation {corr:.3f} >= {SAME_RECORDING_CORRELATION}"))
    for k, x in enumerate(signals, start=1):
        if x is not None and rms_dbfs(x) < SILENT_DBFS:
            found.append(finding(ERROR, "silent source", split, mixture,
                                 f"s{k} {utts[k - 1]} is silent over the mixture "
                                 f"(RMS {rms_dbfs(x):.1f} dBFS < {SILENT_DBFS:g})"))
    return found


def split_findings(mixtures: Iterable[MixtureSources], splits: Sequence[str],
                   counts: Mapping[str, int] | None = None) -> list[dict]:
    """Empty splits, duplicated mixtures, speakers in two splits.

    Args:
        mixtures: every mixture of the splits checked.
        splits: the splits asked for (an empty one is an error).
        counts: mixtures per split when `mixtures` is not all of them (unused otherwise).
    """
    items = list(mixtures)
    per_split = Counter(m.split for m in items)
    found = []
    for split in splits:
        if (counts or per_split).get(split, 0) == 0:
            found.append(finding(ERROR, "empty split", split, None,
                                 ("no mixture: every listed mixture was dropped "
                                  "(report.json: dropped), or the list is empty")))
    seen: dict[tuple[str, frozenset[str]], str] = {}
    for m in items:
        key = (m.split, frozenset(m.utts))
        if key in seen:
            found.append(finding(WARNING, "duplicated mixture", m.split, m.mixture,
                                 f"mixes the same utterances as {seen[key]}"))
        else:
            seen[key] = m.mixture
    speakers: dict[str, dict[str, int]] = {}
    for m in items:
        for spk in m.speakers:
            speakers.setdefault(spk, Counter())[m.split] += 1
    shared: Counter = Counter()
    for by_split in speakers.values():
        if len(by_split) > 1:
            shared[tuple(s for s in splits if s in by_split) or tuple(sorted(by_split))] += 1
    for pair, count in sorted(shared.items()):
        found.append(finding(WARNING, "speaker in two splits", "+".join(pair), None,
                             f"{count} speaker(s) speak in {' and '.join(pair)}"))
    return found


def summarize(found: Sequence[dict]) -> dict:
    """What report.json keeps: error and warning counts per check, and every finding."""
    counts: dict[str, dict[str, int]] = {ERROR: {}, WARNING: {}}
    for f in found:
        counts[f["level"]][f["check"]] = counts[f["level"]].get(f["check"], 0) + 1
    return {"errors": sum(counts[ERROR].values()), "warnings": sum(counts[WARNING].values()),
            "counts": counts, "thresholds": {"same_recording_correlation":
                                             SAME_RECORDING_CORRELATION,
                                             "silent_dbfs": SILENT_DBFS},
            "findings": list(found)}


def describe(f: Mapping) -> str:
    """One console line of a finding."""
    where = f["split"] + (f" {f['mixture']}" if f.get("mixture") else "")
    return f"{f['level']}: {where}: {f['message']}"


def check_prepared(layout, kept: Mapping[str, Sequence], located: Mapping, splits: Sequence[str]
                   ) -> list[dict]:
    """Every check on what `prepare` wrote: `kept` is split -> [(MixLine, MixJob)], the
    sources are read from ``OUT/raw_audio`` (the 2 s sources, as mixed before scaling)."""
    import soundfile as sf

    cache: dict[str, np.ndarray | None] = {}

    def source(utt: str, n: int) -> np.ndarray | None:
        if utt not in cache:
            if len(cache) > 256:
                cache.clear()
            try:
                cache[utt] = sf.read(str(layout.raw(utt)), dtype="float32")[0]
            except (sf.LibsndfileError, RuntimeError, OSError):
                cache[utt] = None
        x = cache[utt]
        return None if x is None else x[:n]

    found: list[dict] = []
    mixtures = []
    for split in splits:
        for line, job in kept.get(split, []):
            utts = tuple(line.utts)
            found += source_findings(split, job.name, utts,
                                     [source(u, job.num_samples) for u in utts])
            speakers = tuple(located[u].speaker if located.get(u) is not None else u
                             for u in utts)
            mixtures.append(MixtureSources(split, job.name, utts, speakers))
    return found + split_findings(mixtures, splits)


def sanity_problems(split: str, row: Mapping, nsrc: int, signals: Mapping) -> list[str]:
    """`validate`'s per-row checks (errors only) on the written int16 sources."""
    utts = [str(row.get(f"s{k}_utt")) for k in range(1, nsrc + 1)]
    audio = []
    for k in range(1, nsrc + 1):
        x = signals.get(f"s{k}")
        audio.append(None if x is None else np.asarray(x, dtype=np.float64) / 32768.0)
    return [f"{f['check']}: {f['message']}"
            for f in source_findings(split, str(row.get("mixture_id")), utts, audio)]


def split_checks(present: Sequence[tuple[str, object]], frames: Mapping, result) -> None:
    """`validate`'s split-level checks: empty splits, duplicated mixtures and speakers in two
    splits (`split_findings`), and each test-set record against its manifest's content."""
    from avss_bench.io.testset import fingerprint_of, manifest_lines, read_test_set

    mixtures = []
    for split, frame in frames.items():
        rows = frame.to_dict("records")
        for row in rows:
            utts, speakers = [], []
            k = 1
            while isinstance(row.get(f"s{k}_utt"), str) and row[f"s{k}_utt"]:
                utts.append(row[f"s{k}_utt"])
                speakers.append(str(row.get(f"s{k}_speaker")))
                k += 1
            mixtures.append(MixtureSources(split, str(row["mixture_id"]), tuple(utts),
                                           tuple(speakers)))
        path = dict(present)[split]
        try:
            record = read_test_set(path)
            if record is None:
                continue
            segment = float(record.details.get("segment_seconds", 2.0))
            content = fingerprint_of(manifest_lines(rows), segment)
        except (ValueError, TypeError, KeyError) as err:
            result.problems.append(f"{split}: cannot fingerprint the manifest's content ({err})")
            continue
        except AvssError as err:  # an unreadable record
            result.problems.append(f"{split}: {err}")
            continue
        if content != record.fingerprint or record.n_mixtures != len(rows):
            result.problems.append(
                f"{split}: the manifest ({len(rows)} mixtures, fingerprint {content[:12]}) is "
                f"not the test set its record names ({record.label}, {record.n_mixtures} "
                f"mixtures, fingerprint {record.fingerprint[:12]}): the manifest was edited "
                "after prepare")
    for f in split_findings(mixtures, list(frames)):
        line = f"{f['split']}: " + (f"{f['mixture']}: " if f.get("mixture") else "") \
            + f"{f['check']}: {f['message']}"
        (result.problems if f["level"] == ERROR else result.warnings).append(line)
