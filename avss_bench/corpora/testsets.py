"""Which test set a prepared split is, and what tables call it.

A split is the official test set of a corpus exactly when the fingerprint of its content
(`avss_bench.io.testset`) equals the fingerprint the corpus module ships for that list
(`Corpus.official_fingerprints`), whether its list was downloaded, given as a folder or found in
a manifest. Everything else is named for what it is: a subset of an official list (n of N), a
given list, a generated list (its law and seed), or a condition of one of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError
from avss_bench.io.testset import (
    TestSet,
    condition_of,
    fingerprint_of,
    manifest_lines,
    read_test_set,
)

LIST_NAMES = {"tt": "test list", "cv": "validation list", "tr": "training list"}
#: the law of generated lists (avss_bench.prepare.mixlist.generate_mix_list)
GENERATED_LAW = ("sources drawn uniformly, no same-speaker or repeated pair, gain1 uniform in "
                 "[0, 5) dB (5 decimals), gain2 = -gain1 (the official lists' law)")


@dataclass(frozen=True)
class OfficialList:
    """An official list whose fingerprint a corpus module ships."""

    corpus: str  # registry name
    split: str
    benchmark: str  # LRS2-2Mix
    short: str  # LRS2
    fingerprint: str

    @property
    def label(self) -> str:
        """``LRS2-2Mix`` for the test list, ``LRS2-2Mix validation list`` for the others."""
        return self.benchmark if self.split == "tt" else \
            f"{self.benchmark} {LIST_NAMES.get(self.split, self.split + ' list')}"

    @property
    def list_name(self) -> str:
        return f"official {self.benchmark} {LIST_NAMES.get(self.split, self.split + ' list')}"


def official_lists() -> list[OfficialList]:
    """Every official list of every registered corpus that ships a fingerprint."""
    from avss_bench.corpora.registry import corpora

    found = []
    for name in corpora.names():
        try:
            cls = corpora.get(name)
        except AvssError:  # a broken plugin does not hide the bundled lists
            continue
        for split, fingerprint in dict(getattr(cls, "official_fingerprints", {}) or {}).items():
            found.append(OfficialList(name, split, cls.benchmark or cls.name,
                                      cls.display_name(), fingerprint))
    return found


def official_match(fingerprint: str) -> OfficialList | None:
    """The official list with this content fingerprint, if any."""
    return next((o for o in official_lists() if o.fingerprint == fingerprint), None)


def official_list(corpus: str, split: str) -> OfficialList | None:
    return next((o for o in official_lists() if o.corpus == corpus and o.split == split), None)


def _names(corpus: str, name: str | None) -> tuple[str, str]:
    """(display name, benchmark) of a corpus; a name not registered is shown capitalised."""
    from avss_bench.corpora.registry import corpora

    if name is None and corpus in corpora.names():
        cls = corpora.get(corpus)
        return cls.display_name(), cls.benchmark
    shown = name or corpus or "unknown corpus"
    return shown[:1].upper() + shown[1:], ""


def describe(corpus: str, split: str, *, fingerprint: str, base_fingerprint: str, n: int,
             speakers: int, origin: str, listed: int, details: Mapping[str, Any] | None = None,
             official_total: int | None = None, seed: int | None = None,
             condition: str | None = None, name: str | None = None) -> TestSet:
    """The TestSet of a prepared split.

    Args:
        corpus: the corpus registry name.
        split: tr, cv or tt.
        fingerprint: of the split's full content (with its conditions).
        base_fingerprint: of the same mixtures without conditions (= `fingerprint` when clean).
        n: mixtures prepared; `listed`: mixtures in the list used (after --num-mixtures).
        origin: ``official`` (the downloaded list), ``file`` (a given list), ``generated``, or
            ``unrecorded`` (only a manifest is known).
        details: what reproduces the list (source, sha256), kept in the record.
        official_total: lines of the whole official list (a subset says n of N).
        seed: of a generated list.
        condition: the prepared condition (noise, reverberation, absent face, segment length),
            as text; the set is then a condition of its base.
        name: what labels call the data instead of the corpus (the demo: ``demo``).
    """
    short, benchmark = _names(corpus, name)
    where = "" if split == "tt" else f" {split}"
    info: dict[str, Any] = dict(details or {})
    match = official_match(base_fingerprint)
    own = official_list(corpus, split) if name is None else None
    if match is not None:
        kind, label = "official", match.label
        info.update(list=match.list_name, benchmark=match.benchmark)
        if origin != "official":
            info["note"] = f"a {origin} list equal in content to the {match.list_name}"
        corpus = match.corpus
    elif origin == "official" and own is not None:
        total = official_total or listed
        kind = "subset"
        label = f"{short}{where}, {n} of {total} mixtures of the {own.list_name}"
        info.update(of=own.list_name, of_fingerprint=own.fingerprint, n=n, N=total)
    elif origin in ("official", "file"):
        kind, label = "given", f"{short}{where}, given list, {n} of {listed} mixtures"
        info["listed"] = listed
    elif origin == "generated":
        what = "generated list" if speakers == 2 else f"generated {speakers}-speaker list"
        size = f"{n} mixtures" if n == listed else f"{n} of {listed} mixtures"
        kind, label = "generated", f"{short}{where}, {what} (seed {seed}), {size}"
        info.update(law=GENERATED_LAW, seed=seed, listed=listed)
    else:
        kind = "given"
        label = (f"{short + where + ', ' if corpus or name else ''}unrecorded list, "
                 f"{n} mixtures ({base_fingerprint[:12]})")
        info["note"] = "prepared without a test-set record: fingerprinted from its manifest"
    base = TestSet(base_fingerprint, name or corpus, split, kind, n, speakers, label, info)
    if condition is None and fingerprint == base_fingerprint:
        return base
    return condition_of(base, condition or "conditions recorded in the manifest",
                        fingerprint=fingerprint, extra=details)


def not_official_reason(test_set: TestSet) -> str:
    """Why a set gets no published rows: ``LRS2, given list, 5 of 5 mixtures: not the official
    LRS2-2Mix test set``."""
    from avss_bench.corpora.registry import corpora

    if test_set.kind == "condition":
        return (f"{test_set.label}: a condition of {test_set.base_label}, not the published "
                "test set")
    benchmark = ""
    if test_set.corpus in corpora.names():
        benchmark = corpora.get(test_set.corpus).benchmark
    if benchmark:
        return f"{test_set.label}: not the official {benchmark} test set"
    return f"{test_set.label}: no published results for this test set"


def manifest_test_set(manifest_csv: str | Path, rows: Iterable[Mapping[str, Any]] | None = None
                      ) -> TestSet:
    """The record beside a manifest, else one computed from the manifest's content (an older
    or hand-made folder: the official test set when its content is, else an unrecorded list)."""
    recorded = read_test_set(manifest_csv)
    if recorded is not None:
        return recorded
    from avss_bench.io.manifest import read_manifest

    records = list(rows) if rows is not None else read_manifest(manifest_csv).to_dict("records")
    full = fingerprint_of(manifest_lines(records))
    base = fingerprint_of(manifest_lines(records, with_conditions=False))
    speakers = max((sum(1 for k in range(1, 9) if isinstance(r.get(f"s{k}_utt"), str)
                        and r.get(f"s{k}_utt")) for r in records), default=2)
    return describe("", Path(manifest_csv).stem, fingerprint=full, base_fingerprint=base,
                    n=len(records), speakers=speakers, origin="unrecorded", listed=len(records))


def evaluated_test_set(manifest_csv: str | Path,
                       visual_condition: Mapping[str, Any] | None = None) -> TestSet:
    """What an evaluation of a manifest is measured on: its split's test set, or a condition of
    it when the lips are damaged (`VisualCondition.as_dict()`)."""
    test_set = manifest_test_set(manifest_csv)
    return test_set if not visual_condition else condition_of(test_set, visual_condition)


def official_test_set(corpus: str, split: str = "tt") -> TestSet | None:
    """The TestSet of a corpus's official list (what published numbers were measured on)."""
    from avss_bench.corpora.registry import corpora

    found = official_list(corpus, split)
    if found is None:
        return None
    cls = corpora.get(corpus)
    size = int(dict(cls.default_sizes).get(split, 0))
    return TestSet(found.fingerprint, corpus, split, "official", size, 2, found.label,
                   {"list": found.list_name, "benchmark": found.benchmark})


def test_set_heading(test_set: TestSet) -> str:
    """One line naming a set for a table's heading: its label, what it is, its fingerprint."""
    if test_set.kind == "official":
        what = f"the {test_set.details.get('list') or 'official list'}"
    elif test_set.kind == "subset":
        what = f"a subset of the {test_set.details.get('of', 'official list')}"
    elif test_set.kind == "condition":
        what = (f"a condition of {test_set.base_label}, fingerprint "
                f"{test_set.base_fingerprint[:12]}")
    else:
        what = f"{test_set.kind} list"
    fingerprint = "" if test_set.short in test_set.label else f", fingerprint {test_set.short}"
    return f"{test_set.label} ({what}; {test_set.n_mixtures} mixtures{fingerprint})"
