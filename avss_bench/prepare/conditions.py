"""Robustness conditions of `prepare`: N speakers, noise, reverberation, absent target.

`Conditions` holds the options; `draw_conditions` gives every list line its seeded `Condition`
(noise file, offset and SNR; RIR files or a simulated room; the silent face of a target-absent
mixture). The draws depend only on (seed, split, line number) and the sorted corpus files, so a
rerun or a shard draws the same. They are stored beside the list as
`OUT/lists/conditions_{split}.jsonl` (one JSON object per line, sorted keys) and in the manifest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.core.numbers import Bounds, check_number
from avss_bench.core.numbers import parse_range as parse_number_range

#: SNR (dB) of --noise against the speech: finite and within what a benchmark can mean.
SNR_BOUNDS = Bounds(-30.0, 60.0)
#: RT60 (s) of --simulate-rooms: below 0.2 s a 10 m shoebox would need more than total
#: absorption (pyroomacoustics.inverse_sabine fails); above 1 s a 3 m room's image-source
#: order makes one mixture take minutes and, further up, more memory than a machine has.
RT60_BOUNDS = Bounds(0.2, 1.0)


@dataclass(frozen=True)
class Conditions:
    """The corpus conditions a `prepare` run builds (defaults: the clean 2-speaker benchmark)."""

    speakers: int = 2
    noise_dir: str | None = None
    snr_db: tuple[float, float] = (0.0, 10.0)
    rir_dir: str | None = None
    simulate_rooms: bool = False
    rt60: tuple[float, float] = (0.2, 0.8)
    target_absent: bool = False

    def __post_init__(self) -> None:
        if self.speakers < 2:
            raise AvssError(f"--speakers must be at least 2, got {self.speakers}")
        if self.rir_dir is not None and self.simulate_rooms:
            raise AvssError("give --rir DIR or --simulate-rooms, not both")
        if self.target_absent and self.speakers != 2:
            raise AvssError("--target-absent builds 2-speaker mixtures: drop --speakers")
        for what, pair, bounds in (("--snr", self.snr_db, SNR_BOUNDS),
                                   ("--rt60", self.rt60, RT60_BOUNDS)):
            lo, hi = (check_number(v, what, bounds) for v in pair)
            if lo > hi:
                raise AvssError(f"{what} LOW:HIGH needs LOW <= HIGH, got {lo}:{hi}")

    @property
    def active(self) -> bool:
        return (self.noise_dir is not None or self.rir_dir is not None or self.simulate_rooms
                or self.target_absent)

    def options(self) -> dict:
        """For report.json (with the noise corpus's layout and split rule, `noise.SPLIT_RULES`)."""
        from avss_bench.prepare.noise import split_rule

        return {"speakers": self.speakers, "noise_dir": self.noise_dir,
                "snr_db": list(self.snr_db) if self.noise_dir else None,
                "noise_split": split_rule(Path(self.noise_dir)) if self.noise_dir else None,
                "rir_dir": self.rir_dir, "simulate_rooms": self.simulate_rooms,
                "rt60": list(self.rt60) if self.simulate_rooms else None,
                "target_absent": self.target_absent}


def parse_range(text: str | tuple[float, float], what: str) -> tuple[float, float]:
    """`"LOW:HIGH"` (or one number, or a parsed pair) of `--snr` / `--rt60` -> (low, high),
    finite and inside the option's bounds (`SNR_BOUNDS`, `RT60_BOUNDS`)."""
    bounds = {"--snr": SNR_BOUNDS, "--rt60": RT60_BOUNDS}.get(what, Bounds())
    if isinstance(text, (tuple, list)):
        text = ":".join(str(v) for v in text)
    return parse_number_range(text, what, bounds)


@dataclass(frozen=True)
class Condition:
    """What one mixture gets on top of the clean recipe (all paths relative to their corpus)."""

    noise_file: str = ""  # relative to --noise DIR
    noise_offset: int = 0  # 16 kHz samples
    snr_db: float = 0.0
    rir_files: tuple[str, ...] = ()  # relative to --rir DIR, one per source
    room: str = ""  # JSON of a simulated room (`reverb.draw_room`)
    absent_utt: str = ""  # the silent face whose lips are given (target absent)
    roots: tuple[str, str] = field(default=("", ""), compare=False)  # (noise dir, rir dir)

    def record(self) -> dict:
        out: dict = {}
        if self.noise_file:
            out.update(noise_file=self.noise_file, noise_offset=self.noise_offset,
                       snr_db=self.snr_db)
        if self.rir_files:
            out["rir_files"] = list(self.rir_files)
        if self.room:
            out["room"] = json.loads(self.room)
        if self.absent_utt:
            out["absent_utt"] = self.absent_utt
        return out


def draw_conditions(lines: list, split: str, options: Conditions, seed: int,
                    speaker_of: Mapping[str, str] | None = None,
                    absent_pool: list[tuple[str, str]] | None = None,
                    segment_samples: int = 2 * SAMPLE_RATE) -> list:
    """The list's lines with their seeded `Condition` attached (unchanged when none is active).

    Args:
        lines: the split's MixLines.
        split: tr, cv or tt (WHAM! noise is drawn from the same split).
        options: the conditions.
        seed: the run's seed.
        speaker_of: utterance -> speaker (target absent: the silent face's speaker differs
            from both mixed speakers).
        absent_pool: `(utt, speaker)` the silent faces are drawn from (the split's own pool).
        segment_samples: the longest mixture (noise offsets leave room for it).
    """
    if not options.active:
        return lines
    from avss_bench.prepare import noise as noise_mod
    from avss_bench.prepare import reverb

    noise_files: list[Path] = []
    lengths: dict[Path, int] = {}
    if options.noise_dir:
        _, _, noise_files = noise_mod.noise_files(Path(options.noise_dir), split)
    groups = reverb.rir_groups(Path(options.rir_dir)) if options.rir_dir else []
    pool = sorted(absent_pool or [])
    out = []
    for line in lines:
        rng = random.Random(f"conditions:{split}:{seed}:{line.index}")
        kw: dict = {"roots": (options.noise_dir or "", options.rir_dir or "")}
        if noise_files:
            f = noise_files[rng.randrange(len(noise_files))]
            if f not in lengths:
                lengths[f] = noise_mod.length_16k(f)
            kw["noise_file"] = str(f.relative_to(Path(options.noise_dir)))
            kw["noise_offset"] = rng.randrange(max(1, lengths[f] - segment_samples + 1))
            kw["snr_db"] = round(rng.uniform(*options.snr_db), 2)
        n_src = len(line.utts)
        if groups:
            kw["rir_files"] = tuple(str(p.relative_to(Path(options.rir_dir)))
                                    for p in reverb.draw_rirs(groups, n_src, rng))
        if options.simulate_rooms:
            kw["room"] = json.dumps(reverb.draw_room(n_src, options.rt60, rng), sort_keys=True)
        if options.target_absent:
            taken = {(speaker_of or {}).get(u, u) for u in line.utts}
            candidates = [u for u, s in pool if s not in taken]
            if not candidates:
                raise AvssError(f"--target-absent: no third speaker in the {split} pool for "
                                f"line {line.index}")
            kw["absent_utt"] = candidates[rng.randrange(len(candidates))]
        out.append(replace(line, condition=Condition(**kw)))
    return out


def conditions_text(lines: list) -> str:
    """`OUT/lists/conditions_{split}.jsonl`: one sorted-key JSON object per list line."""
    return "".join(json.dumps({"line": line.index, "name": line.name,
                               **(line.condition.record() if line.condition else {})},
                              sort_keys=True) + "\n" for line in lines)
