"""A corpus plugin: talking-face clips in one folder per speaker, `ROOT/<speaker>/<clip>.mp4`."""

from collections.abc import Mapping, Sequence

from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Corpus, Utterance, split_speakers


class FlatFaces(Corpus):
    """FlatFaces: ROOT/<speaker>/<clip>.mp4, lists generated with a seed."""

    name = "flatfaces"
    title = "FlatFaces (one folder per speaker)"
    utt_pattern = r"[A-Za-z0-9]+_[A-Za-z0-9]+"
    default_sizes = {"tr": 200, "cv": 20, "tt": 40}

    def check_layout(self) -> None:
        if not any(self.root.glob("*/*.mp4")):
            raise AvssError("not a FlatFaces root: expected <speaker>/<clip>.mp4", self.root)

    def locate(self, utt: str) -> Utterance | None:
        if not self.utt_regex.fullmatch(utt):
            return None
        speaker, clip = utt.split("_", 1)
        rel = f"{speaker}/{clip}.mp4"
        return Utterance(utt, speaker, "main", rel, rel) if (self.root / rel).is_file() else None

    def utterances(self) -> list[Utterance]:
        found = (self.locate(f"{p.parent.name}_{p.stem}") for p in self.root.glob("*/*.mp4"))
        return sorted((u for u in found if u is not None), key=lambda u: u.utt)

    def pools(self, splits: Sequence[str], fixed_speakers: Mapping[str, set[str]],
              seed: int | str) -> dict[str, list[Utterance]]:
        test, rest = split_speakers(self.utterances(), 0.15, 2, seed)
        valid, train = split_speakers(rest, 0.1, 2, seed)
        pools = {"tr": train, "cv": valid, "tt": test}
        return {split: pools[split] for split in splits}
