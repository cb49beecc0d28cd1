"""What every corpus module provides: finding utterances on disk and the pools lists draw from.

A corpus module (one per corpus, like Lhotse's recipes) subclasses `Corpus` and fills in:

* `name`, `title`: the `prepare <name>` subcommand and its help line;
* `utt_pattern`: the regex of the flat utterance id used in list file names;
* `locate(utt)`: the utterance's media files from its flat id, without walking the tree;
* `utterances()`: every usable utterance (walks the tree; needed to generate lists);
* `pools(...)`: which utterances each split's generated list may draw from;
* `official_lists`: the public addresses and sha256 of its official lists;
* `benchmark`, `official_fingerprints`: the benchmark's name (`LRS2-2Mix`) and the test-set
  fingerprint (`avss_bench.io.testset`) of each official list: a prepared split whose content has
  that fingerprint is the official test set, however its list was obtained;
* `default_sizes`: the official list sizes, used when generating.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from avss_bench.core.errors import AvssError

#: Where the official lists live (CTCNet repository, `Datasets/<corpus>/mix_2_spk_<split>.scp`),
#: pinned to the commit the shared facts were taken from.
CTCNET_RAW = ("https://raw.githubusercontent.com/JusperLee/CTCNet/"
              "c8112b78b2bdf2ef5382045db6dfcc9d0f858963/Datasets")


@dataclass(frozen=True)
class Utterance:
    """One corpus utterance: its flat id, speaker and media files (relative to the corpus root)."""

    utt: str  # the flat id used in list file names, e.g. 6330311066473698535_00011
    speaker: str
    subset: str  # on-disk subset: main, pretrain, trainval, test, dev
    video: str  # the clip (.mp4): the manifest's `source` and the lip-ROI input
    audio: str  # the file whose audio track is decoded (the .mp4, or Vox2's .m4a twin)
    #: the speaker's face centre (x, y) as fractions of the frame, when the clip may show
    #: several faces (AVSpeech's CSV); the lip tracker then follows the face nearest it
    face: tuple[float, float] | None = None


@dataclass(frozen=True)
class OfficialList:
    """A public official list: where to download it and its pinned sha256."""

    url: str
    sha256: str


def ctcnet_lists(corpus: str, **sha256: str) -> dict[str, OfficialList]:
    """The official lists CTCNet publishes for `corpus` (its `Datasets/<corpus>` folder name),
    one per split keyword, each with its pinned sha256."""
    return {split: OfficialList(f"{CTCNET_RAW}/{corpus}/mix_2_spk_{split}.scp", digest)
            for split, digest in sha256.items()}


@dataclass(frozen=True)
class CorpusOption:
    """A corpus-specific `prepare <corpus>` option (e.g. AVSpeech's `--csv`), passed to the
    corpus constructor as the keyword `name`."""

    flag: str  # e.g. "--csv"
    name: str  # the constructor keyword
    help: str
    default: str | None = None
    required: bool = False
    is_path: bool = False


class Corpus:
    """Base class of the corpus modules (see the module docstring)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    utt_pattern: ClassVar[str] = ""
    official_lists: ClassVar[Mapping[str, OfficialList]] = {}
    #: the benchmark built from the official lists, as the papers name it (``LRS2-2Mix``)
    benchmark: ClassVar[str] = ""
    #: split -> the test-set fingerprint of its official list (complete, as published)
    official_fingerprints: ClassVar[Mapping[str, str]] = {}
    #: how test-set labels name the corpus (default: the title up to its first '-')
    short_name: ClassVar[str] = ""
    default_sizes: ClassVar[Mapping[str, int]] = {"tr": 20000, "cv": 5000, "tt": 3000}
    #: how generated lists write their paths per split (`{utt}` is replaced)
    list_path_format: ClassVar[Mapping[str, str]] = {
        "tr": "raw_audio/{utt}.wav", "cv": "raw_audio/{utt}.wav", "tt": "raw_audio/{utt}.wav"}
    #: extra `prepare <name>` options, given to the constructor as keywords
    options: ClassVar[Sequence[CorpusOption]] = ()
    #: other names of `--root` on the command line (AVSpeech: `--clips`)
    root_aliases: ClassVar[Sequence[str]] = ()

    def summary(self) -> dict | None:
        """What the corpus wants in report.json (e.g. AVSpeech's missing clips), or None."""
        return None

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise AvssError(f"{self.title or self.name} root is not a directory", self.root)
        self.check_layout()

    # -- to implement -------------------------------------------------------------------------
    def check_layout(self) -> None:
        """Raise AvssError with a one-line hint when `root` does not look like this corpus."""

    def locate(self, utt: str) -> Utterance | None:
        """The utterance with flat id `utt`, or None when its media are not on disk."""
        raise NotImplementedError

    def utterances(self) -> list[Utterance]:
        """Every utterance of the corpus that lists may use, sorted by id."""
        raise NotImplementedError

    def pools(self, splits: Sequence[str], fixed_speakers: Mapping[str, set[str]],
              seed: int | str) -> dict[str, list[Utterance]]:
        """The utterances each generated split draws from.

        Args:
            splits: the splits whose lists are generated.
            fixed_speakers: speakers used by the splits whose lists are given (official or a
                user's), which generated splits must avoid where the corpus allows it.
            seed: the generation seed (for deterministic speaker assignment).
        """
        raise NotImplementedError

    # -- shared helpers -------------------------------------------------------------------------
    @classmethod
    def display_name(cls) -> str:
        """The corpus in test-set labels: ``LRS2`` (not its folder, not its title's suffix)."""
        return cls.short_name or (cls.title or cls.name).split("-")[0]

    @property
    def utt_regex(self) -> re.Pattern:
        return re.compile(self.utt_pattern)

    def path(self, relative: str) -> Path:
        return self.root / relative


def split_speakers(utterances: Sequence[Utterance], fraction: float, min_speakers: int,
                   seed: int | str) -> tuple[list[Utterance], list[Utterance]]:
    """Split a pool by speaker: the first part gets whole speakers until it holds `fraction`
    of the utterances (and at least `min_speakers` speakers, leaving as many to the rest)."""
    by_speaker: dict[str, list[Utterance]] = {}
    for u in utterances:
        by_speaker.setdefault(u.speaker, []).append(u)
    speakers = sorted(by_speaker)
    random.Random(f"speakers:{seed}").shuffle(speakers)
    first: list[str] = []
    count = 0
    target = fraction * len(utterances)
    for spk in speakers:
        if len(first) >= min_speakers and count >= target:
            break
        if len(speakers) - len(first) <= min_speakers:
            break
        first.append(spk)
        count += len(by_speaker[spk])
    chosen = set(first)
    a = [u for u in utterances if u.speaker in chosen]
    b = [u for u in utterances if u.speaker not in chosen]
    return a, b


def without_speakers(utterances: Iterable[Utterance], speakers: set[str]) -> list[Utterance]:
    return [u for u in utterances if u.speaker not in speakers]


def fixed_speaker_set(fixed_speakers: Mapping[str, set[str]]) -> set[str]:
    """Every speaker the given lists use (see `Corpus.pools`), as one set."""
    return set().union(*fixed_speakers.values()) if fixed_speakers else set()


def merge_subsets(order: Sequence[str],
                  walk: Callable[[str], Iterable[Utterance]]) -> list[Utterance]:
    """The utterances of every on-disk subset (`walk(subset)`), sorted by id; an id found in
    several subsets is taken from the earliest in `order`, the order `locate` looks them up."""
    found: dict[str, Utterance] = {}
    for subset in reversed(order):
        for u in walk(subset):
            found[u.utt] = u
    return sorted(found.values(), key=lambda u: u.utt)
