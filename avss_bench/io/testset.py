"""Test-set identity: what a prepared split is, told by its content, never by a folder name.

`prepare` writes ``manifests/<split>.testset.json`` beside each manifest: a fingerprint (sha256
over the canonical content of the mixture list: source utterances, gains, speaker count,
conditions; not paths or encoded bytes), what the list is (the official list of a corpus, a
given list, a generated one, a subset of one, a condition of a base set) and a label derived from
those facts. Every result records it; tables set results side by side only on equal
fingerprints, and put published numbers only beside the official test set.

The canonical content (version 1) is the text::

    avss-bench test set v1
    segment_seconds 2
    <utt1> <gain1> <utt2> <gain2> [<utt3> <gain3> ...][ | <condition JSON>]
    ...

one line per mixture, sorted (the order of a list changes no result), each source's flat
utterance id and gain in dB (shortest float form, ``-0`` as ``0``) in the list's order, and the
mixture's condition (noise file, offset and SNR, RIR files, simulated room, absent face) as JSON
with sorted keys when it has one. Its sha256 is the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_text
from avss_bench.core.errors import AvssError

#: What a list can be.
KINDS = ("official", "given", "generated", "subset", "condition")
HEADER = "avss-bench test set v1"
STANDARD_SEGMENT_SECONDS = 2.0


@dataclass(frozen=True)
class TestSet:
    """The identity of one prepared split.

    Attributes:
        fingerprint: sha256 (hex) of the canonical list content.
        corpus: the corpus registry name (``lrs2``), or ``demo``.
        split: ``tr``, ``cv`` or ``tt``.
        kind: one of :data:`KINDS`.
        n_mixtures: mixtures in the prepared split.
        speakers: speakers per mixture.
        label: how tables and reports name it (``LRS2-2Mix``; ``LRS2, given list, 5 of 5
            mixtures``); derived from the fields above by `prepare`.
        details: what the kind needs to be reproduced: the official list's name, a given
            list's path and sha256, a generated list's law and seed, a subset's ``n`` of ``N``
            and the fingerprint of the list it was cut from, a condition and its base
            fingerprint (``base_fingerprint``, ``base_label``, ``base_kind``, ``condition``).
    """

    __test__ = False  # not a pytest class

    fingerprint: str
    corpus: str
    split: str
    kind: str
    n_mixtures: int
    speakers: int
    label: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_official(self) -> bool:
        return self.kind == "official"

    @property
    def short(self) -> str:
        """The first 12 hex digits of the fingerprint (enough to tell sets apart on screen)."""
        return self.fingerprint.rsplit(":", 1)[-1][:12]

    @property
    def base_fingerprint(self) -> str:
        """The set this one is a condition of (its own fingerprint when it is no condition)."""
        return str(self.details.get("base_fingerprint") or self.fingerprint)

    @property
    def base_label(self) -> str:
        return str(self.details.get("base_label") or self.label)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: Path | None = None) -> TestSet:
        if not isinstance(data, dict):
            raise AvssError("test-set record is not a JSON object", where)
        try:
            return cls(**{k: data[k] for k in ("fingerprint", "corpus", "split", "kind",
                                               "n_mixtures", "speakers", "label")},
                       details=dict(data.get("details") or {}))
        except (KeyError, TypeError) as err:
            raise AvssError(f"test-set record lacks {err}", where) from None


def testset_path(manifest_csv: str | Path) -> Path:
    """Where a manifest's test-set record lives: ``<split>.testset.json`` beside it."""
    manifest_csv = Path(manifest_csv)
    return manifest_csv.with_name(f"{manifest_csv.stem}.testset.json")


def read_test_set(manifest_csv: str | Path) -> TestSet | None:
    """The record beside a manifest, or None for a folder prepared without one."""
    path = testset_path(manifest_csv)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AvssError(f"cannot read the test-set record: {err}", path) from err
    return TestSet.from_json(data, path)


def write_test_set(manifest_csv: str | Path, test_set: TestSet) -> Path:
    """Write the record beside its manifest (atomically)."""
    path = testset_path(manifest_csv)
    write_text(path, json.dumps(test_set.to_json(), indent=2, sort_keys=True) + "\n")
    return path


# -- the canonical content ---------------------------------------------------------------------
def _gain(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise AvssError(f"gain {value} is not finite")
    return "0" if value == 0 else repr(value)


def canonical_line(utts: Sequence[str], gains: Sequence[float],
                   condition: Mapping[str, Any] | None = None) -> str:
    """One mixture of the canonical content (see the module docstring)."""
    if len(utts) != len(gains):
        raise ValueError("one gain per source")
    text = " ".join(f"{u} {_gain(g)}" for u, g in zip(utts, gains, strict=True))
    if condition:
        text += " | " + json.dumps(dict(condition), sort_keys=True, separators=(",", ":"))
    return text


def fingerprint_of(lines: Iterable[str],
                   segment_seconds: float = STANDARD_SEGMENT_SECONDS) -> str:
    """sha256 of the canonical content made of `canonical_line`s (sorted here)."""
    body = "".join(f"{line}\n" for line in sorted(lines))
    text = f"{HEADER}\nsegment_seconds {float(segment_seconds):g}\n{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and value != ""


def manifest_condition(row: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest row's condition columns as the dict `prepare` fingerprints (empty: clean)."""
    out: dict[str, Any] = {}
    if _present(row.get("noise_file")):
        out.update(noise_file=str(row["noise_file"]), noise_offset=int(row["noise_offset"]),
                   snr_db=float(row["snr_db"]))
    if _present(row.get("rir_files")):
        out["rir_files"] = str(row["rir_files"]).split(";")
    if _present(row.get("room")):
        out["room"] = json.loads(str(row["room"]))
    if _present(row.get("absent_utt")):
        out["absent_utt"] = str(row["absent_utt"])
    return out


def manifest_sources(row: Mapping[str, Any]) -> tuple[list[str], list[float]]:
    """The utterances and gains of a manifest row, s1..sN."""
    utts, gains = [], []
    k = 1
    while _present(row.get(f"s{k}_utt")):
        utts.append(str(row[f"s{k}_utt"]))
        gains.append(float(row[f"s{k}_gain_db"]))
        k += 1
    return utts, gains


def manifest_lines(rows: Iterable[Mapping[str, Any]], with_conditions: bool = True
                   ) -> list[str]:
    """The canonical lines of manifest rows (`with_conditions=False`: of their base set)."""
    out = []
    for row in rows:
        utts, gains = manifest_sources(row)
        out.append(canonical_line(utts, gains,
                                  manifest_condition(row) if with_conditions else None))
    return out


# -- conditions of a base set ------------------------------------------------------------------
def condition_of(base: TestSet, spec: str | Mapping[str, Any],
                 fingerprint: str | None = None, n_mixtures: int | None = None,
                 extra: Mapping[str, Any] | None = None) -> TestSet:
    """The test set made of `base`'s mixtures under a condition.

    Args:
        base: the clean set (a condition of a condition keeps the first base).
        spec: what changes, as text (``visual zero:30, seed 0``) or a dict (for a visual
            condition `VisualCondition.as_dict()`: its spec and seed are named).
        fingerprint: the condition's own content fingerprint when it has one (a prepared
            noisy copy fingerprints its noise files and SNRs); default: derived from the base's
            fingerprint and the spec.
        n_mixtures: when the condition's split has another size than the base's.
        extra: more details to record (a prepared condition's list source, sha256, segment).
    """
    text = _condition_text(spec)
    if base.kind == "condition":
        text = f"{base.details.get('condition')}; {text}"
        root_fp, root_label = base.base_fingerprint, base.base_label
        root_kind = str(base.details.get("base_kind") or "")
    else:
        root_fp, root_label, root_kind = base.fingerprint, base.label, base.kind
    if fingerprint is None:
        digest = f"{HEADER}\ncondition of {root_fp}\n{text}\n"
        fingerprint = hashlib.sha256(digest.encode("utf-8")).hexdigest()
    details = {**dict(extra or {}), "base_fingerprint": root_fp, "base_label": root_label,
               "base_kind": root_kind, "condition": text}
    if isinstance(spec, Mapping):
        details["spec"] = dict(spec)
    return TestSet(fingerprint, base.corpus, base.split, "condition",
                   base.n_mixtures if n_mixtures is None else n_mixtures, base.speakers,
                   f"{root_label} + {text}", details)


def _condition_text(spec: str | Mapping[str, Any]) -> str:
    if isinstance(spec, str):
        return spec.strip()
    if "spec" in spec:  # a visual condition (data.visual_conditions.VisualCondition.as_dict)
        return f"visual {spec['spec']}, seed {spec.get('seed', 0)}"
    return ", ".join(f"{k} {v}" for k, v in sorted(spec.items()))
