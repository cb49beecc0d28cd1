"""Mixture lists in the CTCNet format: parse them, map their paths to utterances, generate them.

A list has one mixture per line, four space-separated columns, no header:
`<s1.wav> <gain1> <s2.wav> <gain2>` (gain2 = -gain1, gain1 uniform in [0, 5) dB with at most
five decimals). The paths name the recipe's 2 s `raw_audio` wavs on the authors' machines; only
the basename counts, and it is the corpus's flat utterance id:

* LRS2  `<programme id>_<nnnnn>`            (`../raw_audio/test/6330311066473698535_00011.wav`)
* LRS3  `<11-char YouTube id>_<nnnnn>`       (regex `.{11}_\\d{5}`)
* Vox2  `id<5 digits>_<11-char YouTube id>_<nnnnn>` (regex `id\\d{5}_.{11}_\\d{5}`)

YouTube ids contain `_` and `-`, so ids are matched with these patterns, never split on `_`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from avss_bench.core.errors import AvssError
from avss_bench.prepare.mixing import format_gain, mixture_name, parse_gain

if TYPE_CHECKING:
    from avss_bench.prepare.conditions import Condition


@dataclass(frozen=True)
class MixLine:
    """One line of a mixture list, with the utterance ids its two paths name."""

    index: int  # 0-based line number among the list's mixtures
    s1_path: str
    gain1: str  # the gain exactly as written in the list
    s2_path: str
    gain2: str
    s1_utt: str
    s2_utt: str
    extra: tuple[tuple[str, str, str], ...] = ()  # (path, gain, utt) of sources 3..N
    condition: Condition | None = None  # noise / RIRs / rooms / absent face (`conditions`)

    @property
    def utts(self) -> tuple[str, ...]:
        """The utterances mixed, in order s1..sN."""
        return (self.s1_utt, self.s2_utt, *(u for _, _, u in self.extra))

    @property
    def all_utts(self) -> tuple[str, ...]:
        """The mixed utterances plus the silent face of a target-absent mixture."""
        absent = self.condition.absent_utt if self.condition is not None else ""
        return self.utts + ((absent,) if absent else ())

    @property
    def gains_db(self) -> tuple[float, ...]:
        return (self.gain1_db, self.gain2_db, *(parse_gain(g) for _, g, _ in self.extra))

    @property
    def gain1_db(self) -> float:
        return parse_gain(self.gain1)

    @property
    def gain2_db(self) -> float:
        return parse_gain(self.gain2)

    @property
    def name(self) -> str:
        """The recipe's output name `<utt1>_<%.5g g1>_<utt2>_<%.5g g2>`."""
        name = mixture_name(self.s1_utt, self.gain1_db, self.s2_utt, self.gain2_db)
        for _, g, u in self.extra:
            name += f"_{u}_{format_gain(parse_gain(g))}"
        return name

    def text(self) -> str:
        cols = [self.s1_path, self.gain1, self.s2_path, self.gain2]
        for p, g, _ in self.extra:
            cols += [p, g]
        return " ".join(cols)


def utterance_from_path(path: str, pattern: str | re.Pattern) -> str | None:
    """The flat utterance id a list path names (its basename minus `.wav`), or None."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base[:-4] if base.lower().endswith(".wav") else base
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    return stem if regex.fullmatch(stem) else None


def parse_mix_list(source: str | Path, pattern: str | re.Pattern, *,
                   text: str | None = None) -> list[MixLine]:
    """Parse a CTCNet-format list and map each path to its utterance id.

    Args:
        source: the list file (also used in error messages when `text` is given).
        pattern: the corpus's utterance-id regex (matched against the whole basename).
        text: the list's content, when it is already in memory.

    Raises:
        AvssError: naming the file and line of the first malformed line (wrong column count,
            a gain that is not a number, a path whose basename is not an utterance id).
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise AvssError(f"cannot read mixture list: {err}", source) from err
    lines: list[MixLine] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        cols = raw.split()
        if len(cols) < 4 or len(cols) % 2:
            raise AvssError(f"line {lineno}: expected 4 columns '<s1> <gain1> <s2> <gain2>' "
                            f"(or 2N for N speakers), got {len(cols)}", source)
        if lines and len(cols) != 2 * (2 + len(lines[0].extra)):
            raise AvssError(f"line {lineno}: {len(cols)} columns, the first line has "
                            f"{2 * (2 + len(lines[0].extra))}", source)
        p1, g1, p2, g2 = cols[:4]
        for g in cols[1::2]:
            try:
                value = parse_gain(g)
            except ValueError:
                raise AvssError(f"line {lineno}: gain '{g}' is not a number", source) from None
            if value != value or abs(value) == float("inf"):
                raise AvssError(f"line {lineno}: gain '{g}' is not finite", source)
        utts = [utterance_from_path(p, regex) for p in cols[0::2]]
        for p, u in zip(cols[0::2], utts, strict=True):
            if u is None:
                raise AvssError(f"line {lineno}: '{p}' does not name an utterance "
                                f"(basename must match {regex.pattern})", source)
        extra = tuple((cols[2 * k], cols[2 * k + 1], utts[k]) for k in range(2, len(utts)))
        lines.append(MixLine(len(lines), p1, g1, p2, g2, utts[0], utts[1], extra))
    return lines


def format_mix_list(lines: Iterable[MixLine]) -> str:
    """The list file's text (LF endings, trailing newline)."""
    return "".join(line.text() + "\n" for line in lines)


def max_pairs(speakers: Sequence[str]) -> int:
    """How many distinct unordered cross-speaker pairs a pool of utterances allows."""
    n = len(speakers)
    same = sum(c * (c - 1) // 2 for c in Counter(speakers).values())
    return n * (n - 1) // 2 - same


def generate_mix_list(utterances_with_speakers: Iterable[tuple[str, str]], n: int,
                      seed: int | str, path_format: str = "{utt}.wav",
                      speakers: int = 2) -> list[MixLine]:
    """Draw a seeded list by the law of the official lists.

    Both sources are drawn uniformly from the pool (`random.Random(seed)`), a pair is rejected
    when both utterances share a speaker or the unordered pair was drawn before; each kept pair
    gets `gain1 = Decimal(randrange(0, 500000)) / 100000` (uniform in [0, 5) dB, at most five
    decimals, printed with `str`) and `gain2 = -gain1`. The pool is sorted first, so the same
    seed and pool give a byte-identical list whatever order the corpus was indexed in.

    Args:
        utterances_with_speakers: `(utterance id, speaker)` pairs (duplicates are ignored).
        n: how many mixtures to draw.
        seed: any int or str (str seeds are hashed by `random` with SHA-512, stable across runs).
        path_format: how each source is written in the list (`{utt}` is replaced).
        speakers: N sources per mixture; N > 2 is drawn by `_generate_n` (the 2-speaker
            draw above is unchanged, so its lists stay byte-identical).

    Raises:
        AvssError: the pool allows fewer than `n` distinct cross-speaker pairs.
    """
    pool = sorted(set(utterances_with_speakers))
    if len({u for u, _ in pool}) != len(pool):
        raise AvssError("an utterance is listed with two different speakers")
    if speakers > 2:
        return _generate_n(pool, n, seed, path_format, speakers)
    utts = [u for u, _ in pool]
    spk = dict(pool)
    possible = max_pairs([s for _, s in pool])
    if n > possible:
        raise AvssError(f"cannot draw {n} mixtures: {len(utts)} utterances of "
                        f"{len(set(spk.values()))} speakers allow only {possible} distinct "
                        "cross-speaker pairs")
    rng = random.Random(seed)
    used: set[tuple[str, str]] = set()
    out: list[MixLine] = []
    while len(out) < n:
        a = rng.choice(utts)
        b = rng.choice(utts)
        if spk[a] == spk[b]:
            continue
        key = (a, b) if a < b else (b, a)
        if key in used:
            continue
        used.add(key)
        g = Decimal(rng.randrange(0, 500000)) / 100000
        out.append(MixLine(len(out), path_format.format(utt=a), str(g),
                           path_format.format(utt=b), str(-g), a, b))
    return out


MAX_TRIES_PER_MIXTURE = 1000


def _generate_n(pool: list[tuple[str, str]], n: int, seed: int | str, path_format: str,
                speakers: int) -> list[MixLine]:
    """N-speaker lists in the wsj0-3mix format `<s1> <g1> <s2> <g2> <s3> <g3> ...`.

    `create_wav_3speakers.m` (MERL wsj0-mix scripts) reads 2N columns and treats every gain
    alike (`10^(g/20)` on the P.56-normalised source), so the format and the mixing law are the
    recipe's. No 3-speaker list exists for LRS2/LRS3/VoxCeleb2, so these lists are always
    generated. The draw: N utterances uniformly from the pool, rejected unless their N speakers
    are distinct and the unordered set is new; `g1` uniform in [0, 5) dB (five decimals, as the
    2-speaker lists), `g2 = -g1`, and each further gain uniform in (-5, 5) dB with five decimals.
    The wsj0-3mix lists' own gain distribution is not documented by the scripts (they only read
    the lists); this extension keeps every pairwise level difference within the 2-speaker
    range's order (|g_i - g_j| < 10 dB).
    """
    utts = [u for u, _ in pool]
    spk = dict(pool)
    if len(set(spk.values())) < speakers:
        raise AvssError(f"cannot draw {speakers}-speaker mixtures from "
                        f"{len(set(spk.values()))} speakers")
    rng = random.Random(seed)
    used: set[tuple[str, ...]] = set()
    out: list[MixLine] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > MAX_TRIES_PER_MIXTURE * max(n, 1):
            raise AvssError(f"cannot draw {n} distinct {speakers}-speaker mixtures from "
                            f"{len(utts)} utterances of {len(set(spk.values()))} speakers")
        chosen = [rng.choice(utts) for _ in range(speakers)]
        if len({spk[u] for u in chosen}) != speakers:
            continue
        key = tuple(sorted(chosen))
        if key in used:
            continue
        used.add(key)
        g = Decimal(rng.randrange(0, 500000)) / 100000
        gains = [str(g), str(-g)] + [str(Decimal(rng.randrange(-499999, 500000)) / 100000)
                                     for _ in range(speakers - 2)]
        paths = [path_format.format(utt=u) for u in chosen]
        extra = tuple((paths[k], gains[k], chosen[k]) for k in range(2, speakers))
        out.append(MixLine(len(out), paths[0], gains[0], paths[1], gains[1], chosen[0],
                           chosen[1], extra))
    return out
