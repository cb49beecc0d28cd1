"""Stage 1: the mixture lists (official, given or generated) and the utterances they name."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from avss_bench.core.atomic import write_bytes
from avss_bench.core.cache import cache_root
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Corpus
from avss_bench.prepare.conditions import Conditions, conditions_text, draw_conditions
from avss_bench.prepare.mixlist import MixLine, format_mix_list, generate_mix_list, parse_mix_list
from avss_bench.prepare.records import LIST_NAME, LIST_NAME_N, Layout, sha256_text


@dataclass
class SplitList:
    """The mixture list of one split and where it came from."""

    split: str
    lines: list[MixLine]
    origin: str  # official | file | generated
    source: str  # url, path, or "seed=<seed>"
    text: str = ""
    full_size: int = 0  # lines of the whole list when --num-mixtures kept only its first N

    @property
    def sha256(self) -> str:
        return sha256_text(self.text.encode())


def fetch_official_list(corpus: Corpus, split: str, cache: Path | None = None,
                        timeout: float = 60.0) -> tuple[str, str]:
    """The text of an official list: from the cache when its sha256 matches, else downloaded
    from the pinned address, checked, and cached. Returns (text, url)."""
    entry = corpus.official_lists[split]
    cached = (cache or cache_root()) / "mixlists" / corpus.name / LIST_NAME.format(split=split)
    if cached.is_file():
        data = cached.read_bytes()
        if sha256_text(data) == entry.sha256:
            return data.decode("utf-8"), entry.url
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as response:  # noqa: S310
            data = response.read()
    except OSError as err:
        raise AvssError(f"cannot download the official {corpus.name} {split} list from "
                        f"{entry.url} ({err}); download it yourself and pass --mix-list DIR "
                        f"(or put it at {cached})") from err
    got = sha256_text(data)
    if got != entry.sha256:
        raise AvssError(f"the official {corpus.name} {split} list from {entry.url} has sha256 "
                        f"{got}, expected {entry.sha256}; refusing it")
    write_bytes(cached, data)
    return data.decode("utf-8"), entry.url


def speaker_of(corpus: Corpus, utt: str) -> str:
    located = corpus.locate(utt)
    return located.speaker if located is not None else utt


def resolve_lists(corpus: Corpus, mix_list: str | Path, splits: Sequence[str],
                  seed: int, num_mixtures: Mapping[str, int] | None,
                  conditions: Conditions | None = None) -> dict[str, SplitList]:
    """Read or generate the list of every split (see `prepare_corpus`), with each line's
    seeded robustness condition attached (`avss_bench.prepare.conditions`).

    N > 2 speakers: no official N-speaker list exists for these corpora, so `official` means
    generated lists; a folder is read for `mix_{N}_spk_{split}.scp`.
    """
    conditions = conditions or Conditions()
    speakers = conditions.speakers
    num_mixtures = dict(num_mixtures or {})
    regex = corpus.utt_regex
    given: dict[str, SplitList] = {}
    generate: list[str] = []
    mode = str(mix_list)
    folder: Path | None = None
    if mode not in ("official", "generate"):
        folder = Path(mix_list).expanduser()
        if not folder.is_dir():
            raise AvssError("--mix-list must be 'official', 'generate' or a folder holding "
                            "mix_2_spk_{tr,cv,tt}.scp", folder)
    for split in splits:
        if mode == "generate" or (mode == "official" and speakers > 2):
            generate.append(split)
        elif mode == "official":
            if split in corpus.official_lists:
                text, url = fetch_official_list(corpus, split)
                given[split] = SplitList(split, parse_mix_list(url, regex, text=text),
                                         "official", url, text)
            else:
                generate.append(split)
        else:
            assert folder is not None
            path = folder / LIST_NAME_N.format(n=speakers, split=split)
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                lines = parse_mix_list(path, regex, text=text)
                if lines and len(lines[0].utts) != speakers:
                    raise AvssError(f"{len(lines[0].utts)}-speaker list, --speakers is "
                                    f"{speakers}", path)
                given[split] = SplitList(split, lines, "file", str(path), text)
            else:
                generate.append(split)
    for split, item in given.items():
        if split in num_mixtures:  # a quick run on the first N lines of a list
            item.full_size = len(item.lines)
            item.lines = item.lines[:num_mixtures[split]]
            item.text = format_mix_list(item.lines)
    if generate:
        fixed = {split: {speaker_of(corpus, u) for line in item.lines
                         for u in (line.s1_utt, line.s2_utt)}
                 for split, item in given.items()}
        pools = corpus.pools(generate, fixed, seed)
        for split in generate:
            size = num_mixtures.get(split, corpus.default_sizes[split])
            pool = [(u.utt, u.speaker) for u in pools.get(split, [])]
            try:
                lines = generate_mix_list(pool, size, seed=f"{corpus.name}:{split}:{seed}",
                                          path_format=corpus.list_path_format[split],
                                          speakers=speakers)
            except AvssError as err:
                raise AvssError(f"cannot generate the {split} list of {corpus.name}: {err} "
                                "(set a smaller --num-mixtures)", corpus.root) from None
            given[split] = SplitList(split, lines, "generated", f"seed={seed}",
                                     format_mix_list(lines))
    if conditions.active:
        for split in splits:
            item = given[split]
            spk = {u: speaker_of(corpus, u) for line in item.lines for u in line.utts}
            item.lines = draw_conditions(item.lines, split, conditions, seed, spk,
                                         sorted(spk.items()))
    return {split: given[split] for split in splits}


def store_lists(lists: Mapping[str, SplitList], layout: Layout) -> None:
    """Copy the lists used to OUT/lists; refuse an OUT prepared from different lists."""
    for split, item in lists.items():
        speakers = len(item.lines[0].utts) if item.lines else 2
        files = [(layout.list_file(split, speakers), item.text)]
        if any(line.condition is not None for line in item.lines):
            files.append((layout.conditions_file(split), conditions_text(item.lines)))
        for path, text in files:
            if path.is_file():
                if path.read_bytes() != text.encode():
                    raise AvssError(f"{layout.out} was prepared with a different {split} list "
                                    f"({path}); use a fresh --out or delete it", path)
            else:
                write_bytes(path, text.encode())
