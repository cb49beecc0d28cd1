"""VoxCeleb2 -> VoxCeleb2-2Mix.

Layout (video and the separate audio-only download)::

    ROOT/{dev,test}/mp4/id<NNNNN>/<11-char YouTube id>/<nnnnn>.mp4
    ROOT/{dev,test}/aac/id<NNNNN>/<11-char YouTube id>/<nnnnn>.m4a

The official lists name `id<NNNNN>_<ytid>_<nnnnn>.wav` (regex `id\\d{5}_.{11}_\\d{5}`; YouTube ids
contain `_`, so ids are matched, never split on `_`). An id is looked up in test, then dev. The
audio is decoded from the `.m4a` twin when it exists (the audio release), else from the `.mp4`;
the lips always come from the `.mp4`. The identity `id<NNNNN>` is the speaker.

Only cv and tt lists are public, and **both come from the VoxCeleb2 test identities** (every cv
utterance also occurs in tt; cv has 99 same-speaker pairs). Generated lists follow that: cv and
tt from `test/`, tr from `dev/` (identities disjoint from test), 100,000 mixtures by default
(CTCNet's `vox2_10w` config: 10 w = 100,000).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import (
    Corpus,
    Utterance,
    ctcnet_lists,
    fixed_speaker_set,
    merge_subsets,
    without_speakers,
)

SUBSETS = ("test", "dev")  # lookup order for a flat id
_ID = re.compile(r"(id\d{5})_(.{11})_(\d{5})")


class VoxCeleb2(Corpus):
    """VoxCeleb2 (celebrity interviews from YouTube), mixed into VoxCeleb2-2Mix."""

    name = "vox2"
    title = "VoxCeleb2"
    utt_pattern = r"id\d{5}_.{11}_\d{5}"
    official_lists = ctcnet_lists(
        "Vox2",
        cv="d4f9569ba9c730b21eca9a4735c1b55920752a3b4e85ca177f1f8738d39fa672",
        tt="e1cbebd070c4500837eab8c1888140d1b626e6ca9fa75940edcf622aa2a14bf2")
    benchmark = "VoxCeleb2-2Mix"
    official_fingerprints = {  # avss_bench.io.testset, of the lists above
        "cv": "398ec41952287584be36b46b720f7965ee178539d39469da3525a3845c646999",
        "tt": "55c5d189189d74128f9724de00574a2727a2e0d1b3f77c28b28aaace1a705902",
    }
    default_sizes = {"tr": 100000, "cv": 10000, "tt": 2965}

    def check_layout(self) -> None:
        if not any((self.root / s / kind).is_dir() for s in SUBSETS for kind in ("mp4", "aac")):
            raise AvssError("not a VoxCeleb2 root: expected {dev,test}/mp4/idNNNNN/<ytid>/<n>.mp4",
                            self.root)

    def _utterance(self, subset: str, spk: str, ytid: str, num: str) -> Utterance | None:
        video = f"{subset}/mp4/{spk}/{ytid}/{num}.mp4"
        audio = f"{subset}/aac/{spk}/{ytid}/{num}.m4a"
        has_video = (self.root / video).is_file()
        has_audio = (self.root / audio).is_file()
        if not (has_video or has_audio):
            return None
        return Utterance(f"{spk}_{ytid}_{num}", spk, subset, video, audio if has_audio else video)

    def locate(self, utt: str) -> Utterance | None:
        m = _ID.fullmatch(utt)
        if m is None:
            return None
        for subset in SUBSETS:
            u = self._utterance(subset, *m.groups())
            if u is not None:
                return u
        return None

    def subset(self, subset: str) -> list[Utterance]:
        """Every utterance of `dev` or `test` (one directory walk per kind, no per-file stat)."""
        present: dict[str, set[tuple[str, str, str]]] = {}
        for kind, ext in (("mp4", "mp4"), ("aac", "m4a")):
            present[kind] = {(f.parent.parent.name, f.parent.name, f.stem)
                             for f in (self.root / subset / kind).glob(f"id*/*/*.{ext}")}
        found = []
        for spk, ytid, num in sorted(present["mp4"] | present["aac"]):
            utt = f"{spk}_{ytid}_{num}"
            if not _ID.fullmatch(utt):
                continue
            video = f"{subset}/mp4/{spk}/{ytid}/{num}.mp4"
            audio = f"{subset}/aac/{spk}/{ytid}/{num}.m4a" \
                if (spk, ytid, num) in present["aac"] else video
            found.append(Utterance(utt, spk, subset, video, audio))
        return sorted(found, key=lambda u: u.utt)

    def utterances(self) -> list[Utterance]:
        return merge_subsets(SUBSETS, self.subset)

    def pools(self, splits: Sequence[str], fixed_speakers: Mapping[str, set[str]],
              seed: int | str) -> dict[str, list[Utterance]]:
        test = self.subset("test")
        pools: dict[str, list[Utterance]] = {}
        for split in ("cv", "tt"):
            if split in splits:
                pools[split] = test  # as the official lists: both from the test identities
        if "tr" in splits:
            taken = fixed_speaker_set(fixed_speakers)
            test_ids = {u.speaker for u in test}
            pools["tr"] = without_speakers(self.subset("dev"), taken | test_ids)
        return pools
