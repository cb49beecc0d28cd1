"""Test-set identity: what a prepared split is, told by its content, never by a folder name.

`prepare` writes ``manifests/<split>.testset.json`` beside each manifest: a fingerprint (sha256
over the canonical content of the mixture list: source utterances, gains, speaker count,
conditions; not paths or encoded bytes), what the list is (the official list of a corpus, a
given list, a generated one, a subset of one, a condition of a base set) and a label derived from
those facts. Every result records it; tables set results side by side only on equal
fingerprints, and put published numbers only beside the official test set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_text
from avss_bench.core.errors import AvssError

#: What a list can be.
KINDS = ("official", "given", "generated", "subset", "condition")


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
            fingerprint.
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
