"""Stage 4: the mixtures and their scaled sources (`OUT/wav16k/min/...`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avss_bench.prepare.records import Layout


@dataclass(frozen=True)
class MixJob:
    split: str
    name: str
    s1_utt: str
    gain1: float
    s2_utt: str
    gain2: float
    num_samples: int  # expected: min of the two sources
    level1: float  # activlev powers of the full sources (8 kHz copies), from the sources stage
    level2: float


def mixture_done(layout: Layout, job: MixJob) -> bool:
    size = 44 + 2 * job.num_samples
    for kind in ("s1", "s2", "mix"):
        path = layout.wav(job.split, kind, job.name)
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def mix_batch(out: str, jobs: Sequence[MixJob]) -> int:
    """Mix and write several mixtures; returns how many were written."""
    from avss_bench.io.audio import read_audio, write_wav
    from avss_bench.prepare.mixing import mix_pair

    layout = Layout(out)
    cache: dict[str, np.ndarray] = {}

    def source(utt: str) -> np.ndarray:
        if utt not in cache:
            cache[utt] = read_audio(layout.raw(utt))[0]
        return cache[utt]

    for job in jobs:
        result = mix_pair(source(job.s1_utt), job.gain1, source(job.s2_utt), job.gain2,
                          job.level1, job.level2)
        if result.num_samples != job.num_samples:
            raise RuntimeError(f"{job.name}: {result.num_samples} samples, expected "
                               f"{job.num_samples}")
        write_wav(layout.wav(job.split, "s1", job.name), result.s1)
        write_wav(layout.wav(job.split, "s2", job.name), result.s2)
        write_wav(layout.wav(job.split, "mix", job.name), result.mix)
    return len(jobs)
