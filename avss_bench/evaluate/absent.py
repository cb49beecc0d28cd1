"""The target-absent condition: how much a separator lets through for a face that is silent.

`prepare --target-absent` gives each mixture the lips of a third speaker who does not speak in
it (manifest columns `absent_lips`, `absent_utt`). With no target, SI-SNR is undefined; the
score is the output-to-mixture energy ratio, `10 log10(sum(est^2) / sum(mix^2))` dB: 0 dB passes
the mixture through, -inf would be perfect silence. Lower is better.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from avss_bench.core.constants import LIP_CROP, SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.data.dataset import lips_to_tensor, read_lips
from avss_bench.data.lengths import lip_length_problem, lips_for
from avss_bench.io.audio import read_audio
from avss_bench.io.manifest import read_manifest, resolve_path
from avss_bench.metrics.summary import summarize

EPS = 1e-12


def has_absent_targets(manifest: Path) -> bool:
    """Whether a manifest was prepared with `--target-absent`."""
    return "absent_lips" in read_manifest(manifest).columns


def leak_db(estimate: np.ndarray, mixture: np.ndarray) -> float:
    """Output-to-mixture energy ratio in dB (NaN for a silent mixture)."""
    mix_energy = float(np.sum(mixture.astype(np.float64) ** 2))
    if mix_energy <= EPS:
        return math.nan
    return 10.0 * math.log10(max(float(np.sum(estimate.astype(np.float64) ** 2)), EPS)
                             / mix_energy)


def score_absent(separator: torch.nn.Module, manifest: Path, device: torch.device,
                 lip_rows: int = LIP_CROP) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the separator on every mixture with the absent face's lips.

    Returns one row per mixture (`mixture_id`, `absent_utt`, `leak_db`) and its summary (mean,
    CI, n, failures), as `summarize` gives for the other metrics.
    """
    frame = read_manifest(manifest)
    rows = []
    for row in frame.itertuples(index=False):
        if not isinstance(row.absent_lips, str):
            raise AvssError(f"mixture {row.mixture_id} has no absent_lips", manifest)
        mixture, rate = read_audio(resolve_path(manifest, row.mix_path), "float32")
        if rate != SAMPLE_RATE:
            raise AvssError(f"sample rate is {rate} Hz, expected {SAMPLE_RATE}", row.mix_path)
        lips_path = resolve_path(manifest, row.absent_lips)
        raw = read_lips(lips_path)
        problem = lip_length_problem(raw.shape[0], mixture.shape[0])
        if problem:
            raise AvssError(problem, lips_path)
        lips = lips_to_tensor(lips_for(raw, mixture.shape[0]), rows=lip_rows)
        with torch.inference_mode():
            estimate = separator(torch.from_numpy(mixture)[None].to(device), lips[None].to(device))
        rows.append({"mixture_id": str(row.mixture_id), "absent_utt": str(row.absent_utt),
                     "leak_db": leak_db(estimate[0].float().cpu().numpy(), mixture)})
    table = pd.DataFrame(rows, columns=["mixture_id", "absent_utt", "leak_db"])
    return table, summarize(table, ["leak_db"])["leak_db"]
