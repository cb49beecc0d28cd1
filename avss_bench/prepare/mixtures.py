"""Stage 4: the mixtures and their scaled sources (`OUT/wav16k/min/...`).

Clean 2-speaker mixtures are `mixing.mix_pair` (the exact recipe). N speakers and the robustness
conditions go through `mixing.mix_sources` and write, per mixture, `s1..sN` (the references),
`mix`, and under noise `mix_clean` + `noise` (WHAM!'s folder names), under reverberation
`s<k>_reverb` (the reverberant images that sum to the clean mixture).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from avss_bench.core.errors import AvssError
from avss_bench.prepare.conditions import Condition
from avss_bench.prepare.records import Layout


@dataclass(frozen=True)
class MixJob:
    split: str
    name: str
    s1_utt: str
    gain1: float
    s2_utt: str
    gain2: float
    num_samples: int  # expected: min of the sources
    level1: float  # activlev powers of the full sources (8 kHz copies), from the sources stage
    level2: float
    extra: tuple[tuple[str, float, float], ...] = ()  # (utt, gain, level) of sources 3..N
    condition: Condition | None = None

    @property
    def speakers(self) -> int:
        return 2 + len(self.extra)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The files this job writes (folders under `wav16k/min/<split>/`)."""
        kinds = [f"s{k}" for k in range(1, self.speakers + 1)] + ["mix"]
        c = self.condition
        if c is not None and (c.rir_files or c.room):
            kinds += [f"s{k}_reverb" for k in range(1, self.speakers + 1)]
        if c is not None and c.noise_file:
            kinds += ["mix_clean", "noise"]
        return tuple(kinds)


def make_job(split: str, line, audio: Mapping[str, dict]) -> MixJob:
    """The MixJob of a list line whose sources are all extracted (`audio`: source records)."""
    recs = [audio[u] for u in line.utts]
    gains = line.gains_db
    extra = tuple((u, gains[k + 2], recs[k + 2]["level"]) for k, u in enumerate(line.utts[2:]))
    return MixJob(split, line.name, line.s1_utt, gains[0], line.s2_utt, gains[1],
                  min(r["num_samples"] for r in recs), recs[0]["level"], recs[1]["level"],
                  extra, line.condition)


def mixture_done(layout: Layout, job: MixJob) -> bool:
    size = 44 + 2 * job.num_samples
    for kind in job.kinds:
        path = layout.wav(job.split, kind, job.name)
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def condition_signals(job: MixJob) -> dict:
    """The RIRs (full and early) and the noise segment of a job's condition, as `mix_sources`
    takes them."""
    from pathlib import Path

    from avss_bench.prepare import noise as noise_mod
    from avss_bench.prepare import reverb

    c = job.condition
    out: dict = {}
    if c is None:
        return out
    if c.rir_files:
        rirs = [noise_mod.read_mono_16k(Path(c.roots[1]) / f, "RIR") for f in c.rir_files]
    elif c.room:
        rirs = reverb.room_rirs(json.loads(c.room))
    else:
        rirs = None
    if rirs is not None:
        out["rirs"] = rirs
        out["early"] = [reverb.early_part(h) for h in rirs]
    if c.noise_file:
        out["noise"] = noise_mod.noise_segment(Path(c.roots[0]) / c.noise_file, c.noise_offset,
                                               job.num_samples)
        out["snr_db"] = c.snr_db
    return out


def mix_batch(out: str, jobs: Sequence[MixJob]) -> int:
    """Mix and write several mixtures; returns how many were written."""
    from avss_bench.io.audio import read_audio, write_wav
    from avss_bench.prepare.mixing import SilentSourceError, mix_pair, mix_sources

    layout = Layout(out)
    cache: dict[str, np.ndarray] = {}

    def source(utt: str) -> np.ndarray:
        if utt not in cache:
            cache[utt] = read_audio(layout.raw(utt))[0]
        return cache[utt]

    for job in jobs:
        if not job.extra and job.condition is None:
            result = mix_pair(source(job.s1_utt), job.gain1, source(job.s2_utt), job.gain2,
                              job.level1, job.level2)
            files = {"s1": result.s1, "s2": result.s2, "mix": result.mix}
        else:
            utts = [job.s1_utt, job.s2_utt, *(u for u, _, _ in job.extra)]
            gains = [job.gain1, job.gain2, *(g for _, g, _ in job.extra)]
            levels = [job.level1, job.level2, *(lev for _, _, lev in job.extra)]
            try:
                res = mix_sources([source(u) for u in utts], gains, levels,
                                  **condition_signals(job))
            except SilentSourceError as err:  # e.g. a noise file silent at the drawn offset
                c = job.condition
                where = (f" (noise {c.noise_file} from sample {c.noise_offset})"
                         if c is not None and c.noise_file else "")
                raise AvssError(f"mixture {job.split}/{job.name}: {err}{where}; remove the "
                                "file from the folder and prepare into a fresh --out",
                                layout.out) from None
            files = {f"s{k + 1}": s for k, s in enumerate(res.sources)}
            files.update({f"s{k + 1}_reverb": s for k, s in enumerate(res.images)})
            files["mix"] = res.mix
            if res.noise is not None:
                files["mix_clean"] = res.clean
                files["noise"] = res.noise
        for data in files.values():
            if data.size != job.num_samples:
                raise RuntimeError(f"{job.name}: {data.size} samples, expected "
                                   f"{job.num_samples}")
        for kind in job.kinds:  # the mixture last: its presence with the others marks done
            write_wav(layout.wav(job.split, kind, job.name), files[kind])
    return len(jobs)
