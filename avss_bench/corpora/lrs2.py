"""LRS2-BBC -> LRS2-2Mix.

Layout (the archive unpacks to `mvlrs_v1/`; the list files are separate downloads that sit next
to it, in the folder given as `--root`)::

    ROOT/mvlrs_v1/main/<19-digit programme id>/<nnnnn>.{mp4,txt}
    ROOT/mvlrs_v1/pretrain/<programme id>/<nnnnn>.{mp4,txt}     (not used by the 2-speaker lists)
    ROOT/{pretrain,train,val,test}.txt      one `<id>/<nnnnn>` per line (test.txt: + NF/MV)

`--root` may also be `mvlrs_v1` itself, with the list files beside it or inside it. The list
paths `../raw_audio/{train,val,test}/<progid>_<nnnnn>.wav` map to
`mvlrs_v1/main/<progid>/<nnnnn>.mp4`.
LRS2 has no speaker ids: the programme id is the speaker (the only grouping, as the demo corpus
also uses). Generated lists draw tr from train.txt, cv from val.txt and tt from test.txt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Corpus, Utterance, ctcnet_lists

LIST_FILES = {"tr": "train.txt", "cv": "val.txt", "tt": "test.txt"}


class LRS2(Corpus):
    """LRS2-BBC (BBC programmes, `mvlrs_v1/main`), mixed into LRS2-2Mix."""

    name = "lrs2"
    title = "LRS2-BBC"
    utt_pattern = r"\d+_\d{5}"
    official_lists = ctcnet_lists(
        "LRS2",
        tr="96072348cd519184ad4c718af90f6105eb5f541808a660bd0f675369cbad02b9",
        cv="29479564f2de64dc54ce82d11f86360c427a69dbc597d1be1ba4d53304832dd0",
        tt="4d856960889e0d1be0b31b8262ba14df8ed969b2ac39b9ef4d200f4efc5ec75e")
    benchmark = "LRS2-2Mix"
    official_fingerprints = {  # avss_bench.io.testset, of the lists above
        "tr": "34c0f90cad97f8b812f6d826ed1dc6f93db9c7be1d84556d7f163c1e6f03c797",
        "cv": "aa0085981ee832cd1a88e727d92be6ae0f7e2b22c167c7f2c02f9bd16355cdca",
        "tt": "ba22f527c342402d86cfbdc2e1bd0563160454686713a2eb448c7a34bc1c6f5a",
    }
    default_sizes = {"tr": 20000, "cv": 5000, "tt": 3000}
    list_path_format = {"tr": "../raw_audio/train/{utt}.wav", "cv": "../raw_audio/val/{utt}.wav",
                        "tt": "../raw_audio/test/{utt}.wav"}

    def check_layout(self) -> None:
        if (self.root / "mvlrs_v1" / "main").is_dir():
            self.base = self.root / "mvlrs_v1"
            self.list_dirs = [self.root, self.base]
        elif (self.root / "main").is_dir():
            self.base = self.root
            self.list_dirs = [self.root.parent, self.root]
        else:
            raise AvssError("not an LRS2 root: expected mvlrs_v1/main/<programme id>/<nnnnn>.mp4",
                            self.root)
        self.prefix = self.base.relative_to(self.root).as_posix()
        self.prefix = "" if self.prefix == "." else self.prefix + "/"

    def _rel(self, progid: str, num: str) -> str:
        return f"{self.prefix}main/{progid}/{num}.mp4"

    def locate(self, utt: str) -> Utterance | None:
        if not self.utt_regex.fullmatch(utt):
            return None
        progid, num = utt.rsplit("_", 1)  # programme ids are digits: safe to split
        rel = self._rel(progid, num)
        if not (self.root / rel).is_file():
            return None
        return Utterance(utt, progid, "main", rel, rel)

    def list_file(self, split: str) -> Path | None:
        for folder in self.list_dirs:
            candidate = folder / LIST_FILES[split]
            if candidate.is_file():
                return candidate
        return None

    def listed(self, split: str) -> list[Utterance]:
        """The utterances of one official LRS2 split list (train/val/test.txt) that exist."""
        path = self.list_file(split)
        if path is None:
            raise AvssError(f"LRS2 split list {LIST_FILES[split]} not found next to mvlrs_v1 "
                            "(needed to generate mixture lists)", self.root)
        found = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = line.split()[0]  # test.txt has a second column (NF/MV)
            try:
                progid, num = item.split("/")
            except ValueError:
                raise AvssError(f"malformed line '{line}' (expected <id>/<nnnnn>)", path) from None
            utt = self.locate(f"{progid}_{num}")
            if utt is not None:
                found.append(utt)
        return sorted(found, key=lambda u: u.utt)

    def utterances(self) -> list[Utterance]:
        found = {}
        for split in LIST_FILES:
            if self.list_file(split) is not None:
                for u in self.listed(split):
                    found[u.utt] = u
        if not found:  # no list files: everything in main/
            for mp4 in sorted((self.base / "main").glob("*/*.mp4")):
                u = self.locate(f"{mp4.parent.name}_{mp4.stem}")
                if u is not None:
                    found[u.utt] = u
        return sorted(found.values(), key=lambda u: u.utt)

    def pools(self, splits: Sequence[str], fixed_speakers: Mapping[str, set[str]],
              seed: int | str) -> dict[str, list[Utterance]]:
        # The official split lists decide; LRS2's programmes are split by broadcast date.
        return {split: self.listed(split) for split in splits}
