"""Evaluate one separator over a grid of conditions and summarise them in `robustness.csv`.

Layout: `OUT/<model>/<condition>/` is an ordinary evaluation folder (results.csv, summary.json,
evaluate.stamp.json) plus `condition.json` naming its point of the grid. `robustness.csv` is
rebuilt from every such folder under OUT, so running a second model into the same OUT adds its
rows and its line to the plot. `drop` is the condition's SI-SNRi minus the same model's clean
SI-SNRi (negative = worse). Each row names its test set (label and fingerprint) and the set it
is a condition of (`base_fingerprint`): a visual condition, or a noisy copy of the same mixtures,
is a condition of the clean set; a corpus of other mixtures (3 speakers) is a set of its own,
which the table says. Every other metric the evaluation scored (`--metrics`, e.g. PESQ, STOI)
follows as `<key>`, `<key>_ci_low`, `<key>_ci_high`. A target-absent corpus condition (kind
`absent`) has no SI-SNRi (no target): its row gives `leak_db`, the output-to-mixture energy in
dB that `evaluate` writes as `target_absent_leak_db` in its summary.json (lower is better), with
its CI; its `n` counts mixtures.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from avss_bench.core.atomic import atomic_path, write_text
from avss_bench.core.errors import AvssError
from avss_bench.evaluate.results import SUMMARY, read_summary
from avss_bench.evaluate.run import evaluate
from avss_bench.io.manifest import manifest_path
from avss_bench.robustness.grid import Condition, mark_target_absent

CONDITION_FILE = "condition.json"
CSV = "robustness.csv"
COLUMNS = ["model", "condition", "kind", "value", "data", "visual", "visual_seed", "si_snr_i",
           "si_snr_i_ci_low", "si_snr_i_ci_high", "drop", "leak_db", "leak_db_ci_low",
           "leak_db_ci_high", "n", "n_failed", "test_set", "test_set_fingerprint",
           "base_fingerprint", "folder"]


def slug(text: str) -> str:
    """A folder-safe version of a model's display name."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "model"


def run_robustness(model: str | None, checkpoint: str | Path | None, grid: list[Condition],
                   out_dir: str | Path, split: str = "tt", metrics: tuple[str, ...] = ("si_snr",),
                   seed: int = 0, name: str | None = None, quiet: bool = False,
                   **options: Any) -> pd.DataFrame:
    """Evaluate `model` on every condition of `grid`; returns the rows written to robustness.csv.

    `options` go to `evaluate` unchanged (frontend_checkpoint, device, lip_rows, random_init,
    overwrite, config overrides).
    """
    from avss_bench.metrics.registry import metric_registry

    if "si_snr" not in metric_registry.check(metrics):
        raise AvssError("robustness reports SI-SNRi: --metrics must include si_snr")
    out = Path(out_dir)
    label = name or model or Path(str(checkpoint)).stem
    for condition in grid:  # a missing folder stops before the first (long) evaluation
        manifest_path(condition.data, split)
    grid = mark_target_absent(grid, split)
    for condition in grid[1:]:
        if condition.visual is None and condition.kind != "absent":
            check_same_speech(grid[0], condition, split)
    claim_model_folder(out / slug(label), robustness_stamp(model, checkpoint, grid[0], split,
                                                           seed, options),
                       bool(options.get("overwrite")))
    for condition in grid:
        folder = out / slug(label) / condition.label
        if not quiet:
            print(f"robustness: {label} / {condition.label}", file=sys.stderr, flush=True)
        evaluate(model, checkpoint, condition.data, split=split, out_dir=folder, metrics=metrics,
                 quiet=quiet, name=name, visual_condition=condition.visual,
                 visual_seed=seed, **options)
        write_text(folder / CONDITION_FILE,
                   json.dumps({"model": label, **condition.as_dict(), "visual_seed": seed},
                              indent=2))
    return write_csv(out)


STAMP = "robustness.stamp.json"
#: How many shared utterances `check_same_speech` compares byte for byte.
SPEECH_CHECKS = 16


def robustness_stamp(model: str | None, checkpoint: str | Path | None, clean: Condition,
                     split: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    """What a model's condition folders share, so that their drops are against its clean row:
    the separator, its weights, the clean corpus's split, the lip crop and the visual seed."""
    from avss_bench.evaluate.stamp import model_from_checkpoint
    from avss_bench.models.checkpoints import sha256_of
    from avss_bench.models.registry import separators

    resolved = model_from_checkpoint(model, None if checkpoint is None else Path(checkpoint))
    frontend = options.get("frontend_checkpoint")
    manifest = manifest_path(clean.data, split)
    return {
        "model_target": separators.resolve(resolved).target,
        "checkpoint_sha256": None if checkpoint is None else sha256_of(Path(checkpoint)),
        "frontend_checkpoint_sha256": None if frontend is None else sha256_of(Path(frontend)),
        "clean_manifest": str(manifest.resolve()), "clean_manifest_sha256": sha256_of(manifest),
        "split": split, "visual_seed": seed, "lip_rows": options.get("lip_rows"),
        "random_init": bool(options.get("random_init")),
    }


def claim_model_folder(folder: Path, stamp: dict[str, Any], overwrite: bool) -> None:
    """Let a robustness run use OUT/<model>/, or stop naming what differs from the run whose
    condition folders it holds (their drops would be against another clean row). With
    `overwrite`, that run's condition folders are removed first."""
    import shutil

    from avss_bench.core.provenance import first_mismatch

    path = folder / STAMP
    held = sorted(p.parent for p in folder.glob(f"*/{CONDITION_FILE}"))
    mismatch = None
    if path.is_file():
        try:
            mismatch = first_mismatch(json.loads(path.read_text()), stamp)
        except (OSError, json.JSONDecodeError) as err:
            mismatch = f"its stamp is unreadable ({err})"
    elif held:
        mismatch = f"it holds condition folders ({held[0].name}) without a robustness stamp"
    if mismatch and not overwrite:
        raise AvssError(f"holds another robustness run of this name: {mismatch}; use another "
                        "--out or --name, or --overwrite to replace it", folder)
    if mismatch:
        for condition_folder in held:
            shutil.rmtree(condition_folder)
        path.unlink(missing_ok=True)
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(stamp, indent=2, sort_keys=True))


def _utterances(manifest: Path) -> set[str]:
    from avss_bench.io.manifest import read_manifest

    frame = read_manifest(manifest)
    columns = [c for c in frame.columns if c.startswith("s") and c.endswith("_utt")]
    return {str(u) for c in columns for u in frame[c].dropna()}


def check_same_speech(clean: Condition, condition: Condition, split: str) -> None:
    """A corpus condition must hold the clean corpus's speech under harder conditions: it shares
    utterances with it and, where both folders keep their 2-s sources (raw_audio/), the
    shared ones are the same bytes. Otherwise its 'drop' would compare other speech."""
    from avss_bench.core.hashing import sha256_of

    clean_manifest = manifest_path(clean.data, split)
    manifest = manifest_path(condition.data, split)
    shared = sorted(_utterances(clean_manifest) & _utterances(manifest))
    if not shared:
        raise AvssError(f"--data {condition.data_name}: shares no utterance with the clean "
                        f"corpus {clean.data} ({split}); its drop would compare other speech: "
                        "prepare it from the same raw corpus and lists", condition.data)
    for utt in shared[:SPEECH_CHECKS]:
        a = clean_manifest.parent.parent / "raw_audio" / f"{utt}.wav"
        b = manifest.parent.parent / "raw_audio" / f"{utt}.wav"
        if a.is_file() and b.is_file() and sha256_of(a) != sha256_of(b):
            raise AvssError(f"--data {condition.data_name}: utterance {utt} is other audio than "
                            f"in the clean corpus {clean.data} (raw_audio/{utt}.wav differs): "
                            "prepared from other raw clips; its drop would compare other "
                            "speech", condition.data)


def collect(out_dir: Path) -> pd.DataFrame:
    """One row per (model, condition) folder under `out_dir` that has a summary."""
    rows: list[dict[str, Any]] = []
    weights: dict[str, tuple[Any, Any]] = {}
    for marker in sorted(Path(out_dir).glob(f"*/*/{CONDITION_FILE}")):
        folder = marker.parent
        summary_path = folder / SUMMARY
        if not summary_path.is_file():
            continue
        try:
            point = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise AvssError(f"cannot read robustness results: {err}", folder) from err
        summary = read_summary(summary_path)
        rows.append({
            "model": point["model"], "condition": point["label"], "kind": point["kind"],
            "value": point["value"], "data": point["data_name"], "visual": point["visual"],
            "visual_seed": point.get("visual_seed"), **_scores(point["kind"], summary,
                                                               summary_path),
            **_test_set(summary), "folder": str(folder.relative_to(out_dir)),
        })
        weights[rows[-1]["folder"]] = (summary.get("model_target"),
                                       summary.get("checkpoint_sha256"))
    _check_one_model_per_name(rows, weights, out_dir)
    scored = list(dict.fromkeys(key for row in rows for key in row if key not in COLUMNS))
    frame = pd.DataFrame(rows, columns=COLUMNS + scored)
    if frame.empty:
        return frame
    frame["order"] = [condition_order(kind, value)
                      for kind, value in zip(frame["kind"], frame["value"], strict=True)]
    frame = frame.sort_values(["model", "order", "condition"], kind="stable").drop(
        columns="order").reset_index(drop=True)
    clean = frame[frame["kind"] == "clean"].set_index("model")["si_snr_i"]
    frame["drop"] = [value - clean[model] if model in clean.index else math.nan
                     for model, value in zip(frame["model"], frame["si_snr_i"], strict=True)]
    return frame


def _test_set(summary: dict[str, Any]) -> dict[str, str]:
    """The point's test set: its label and fingerprint, and the set it is a condition of."""
    from avss_bench.evaluate.leaderboard import summary_test_set

    test_set = summary_test_set(summary)
    return {"test_set": test_set.label, "test_set_fingerprint": test_set.fingerprint,
            "base_fingerprint": test_set.base_fingerprint}


def _check_one_model_per_name(rows: list[dict[str, Any]], weights: dict[str, tuple[Any, Any]],
                              out_dir: Path) -> None:
    """Every condition of a model name must be of the weights of its clean row (a drop against
    another checkpoint's clean SI-SNRi means nothing)."""
    clean = {row["model"]: weights[row["folder"]] for row in rows if row["kind"] == "clean"}
    for row in rows:
        if row["model"] in clean and weights[row["folder"]] != clean[row["model"]]:
            target, sha = weights[row["folder"]]
            raise AvssError(f"{row['folder']} was evaluated with {target} (checkpoint sha256 "
                            f"{str(sha)[:12]}), the clean row of '{row['model']}' with "
                            f"{clean[row['model']][0]} ({str(clean[row['model']][1])[:12]}); "
                            "rerun robustness with --overwrite, or use another --out",
                            Path(out_dir) / row["folder"])


def _scores(kind: str, summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """SI-SNRi and its CI, or for a target-absent condition the leak and its CI (no SI-SNRi)."""
    nan = math.nan
    key, stat = (("target_absent_leak_db", summary.get("target_absent_leak_db"))
                 if kind == "absent" else ("si_snr_i", summary.get("metrics", {}).get("si_snr_i")))
    if stat is None:
        raise AvssError(f"summary.json has no {key}", path)
    low, high = _ci(stat)
    scores = {"si_snr_i": nan, "si_snr_i_ci_low": nan, "si_snr_i_ci_high": nan, "drop": nan,
              "leak_db": nan, "leak_db_ci_low": nan, "leak_db_ci_high": nan,
              "n": stat["n"], "n_failed": stat["n_failed"]}
    name = "leak_db" if kind == "absent" else "si_snr_i"
    scores.update({name: nan if stat["mean"] is None else stat["mean"],
                   f"{name}_ci_low": low, f"{name}_ci_high": high})
    if kind != "absent":  # the other metrics scored (PESQ, STOI...), each with its CI
        for key, other in summary.get("metrics", {}).items():
            if key == "si_snr_i" or not isinstance(other, dict):
                continue
            low, high = _ci(other)
            mean = nan if other.get("mean") is None else other["mean"]
            scores.update({key: mean, f"{key}_ci_low": low, f"{key}_ci_high": high})
    return scores


def _ci(stat: dict[str, Any]) -> tuple[float, float]:
    """A summary statistic's 95% CI bounds (``ci95: [low, high]`` or ``ci95_low``/``_high``);
    NaN where not known."""
    low, high = stat.get("ci95") or [stat.get("ci95_low"), stat.get("ci95_high")]
    return (math.nan if low is None else low), (math.nan if high is None else high)


def condition_order(kind: str, value: Any) -> tuple[int, str, float]:
    """Sort key of the grid: clean, zero, freeze, offset, lowres (finer first), fps, corpora,
    target absent last."""
    rank = {"clean": 0, "zero": 1, "freeze": 2, "offset": 3, "lowres": 4, "fps": 5, "absent": 7}
    number = -math.inf if value is None or pd.isna(value) else float(value)
    if kind == "lowres":
        number = -number  # lower resolution = harder, listed after
    return rank.get(kind, 6), kind if kind not in rank else "", number


def write_csv(out_dir: Path) -> pd.DataFrame:
    """Rebuild OUT/robustness.csv from every condition folder; returns its rows."""
    frame = collect(out_dir)
    if frame.empty:
        raise AvssError("no robustness results (condition folders with summary.json) here",
                        out_dir)
    with atomic_path(Path(out_dir) / CSV) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return frame
