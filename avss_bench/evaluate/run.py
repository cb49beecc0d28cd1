"""Evaluation: separate every (mixture, target) of a split at full length and score it.

Writes `results.csv` (one row per target, sorted) and `summary.json` (mean, 95% CI, failures,
provenance). Rows are appended to `results.partial.csv` as they are scored, so an interrupted
run resumes where it stopped; under torchrun every rank scores a contiguous, unpadded shard and
rank 0 merges, so the merged CSV has exactly one row per target.

Every value column has its `*_error` column (the reason a metric is NaN), none is dropped. The
folder is stamped (`evaluate.stamp.json`: model, checkpoint sha256, options, data identity) and
a partial CSV, examples or profile.json are reused only under the same stamp (`stamp.py`).
The first estimate is checked against the Separator contract, and a trainable separator without
a checkpoint is refused unless `random_init` is asked for.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from avss_bench.core.atomic import atomic_path, write_bytes, write_text
from avss_bench.core.constants import DEFAULT_METRICS, LIP_CROP, SAMPLE_RATE
from avss_bench.core.device import resolve_device
from avss_bench.core.distributed import init_distributed
from avss_bench.core.errors import AvssError
from avss_bench.core.provenance import provenance
from avss_bench.data.dataset import TargetSpeakerDataset
from avss_bench.data.sampling import shard_range
from avss_bench.data.visual_conditions import parse_condition
from avss_bench.evaluate import stamp as stamps
from avss_bench.evaluate.absent import has_absent_targets, score_absent
from avss_bench.io.audio import float_wav_bytes
from avss_bench.io.manifest import canonical_split, manifest_path
from avss_bench.metrics.utterance import output_keys
from avss_bench.models.checkpoints import sha256_of
from avss_bench.models.contract import check_separator_output, is_trainable
from avss_bench.models.registry import load_separator, separators

KEY = ("mixture_id", "target")


def _read_done(path: Path) -> list[dict[str, str]]:
    """Complete rows of a partial CSV (a torn last line from a crash is dropped)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    if len(lines) <= 1:
        return []
    return list(csv.DictReader(lines))


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial CSV back to its last complete line, so appends start on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        os.truncate(path, keep)


def _append_rows(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)  # an unknown key is our bug: raise
        if new:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())


def _flatten(mixture_id: str, target: str, scored: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"mixture_id": mixture_id, "target": target}
    for key, value in scored["targets"][0].items():
        if key in ("reference", "estimate"):
            continue
        row[key] = "" if value is None else value
    return row


def _fields(metrics: tuple[str, ...]) -> list[str]:
    """Key columns, every value column, then every value's `*_error` reason column."""
    keys = output_keys(metrics)
    return list(KEY) + keys + [f"{key}_error" for key in keys]


def _items_files(items: TargetSpeakerDataset) -> list[Path]:
    return list(dict.fromkeys(p for it in items.items
                              for p in (it.mix_path, it.target_path, it.lips_path)))


def evaluation_stamp(target: str, checkpoint: Path | None, frontend_checkpoint: Path | None,
                     manifest: Path, items: TargetSpeakerDataset, options: dict[str, Any]
                     ) -> dict[str, Any]:
    """What an evaluation folder holds: model, weights, options and the data's identity."""
    return {
        "model_target": target,
        "checkpoint_sha256": None if checkpoint is None else sha256_of(checkpoint),
        "frontend_checkpoint_sha256": (None if frontend_checkpoint is None
                                       else sha256_of(frontend_checkpoint)),
        "options": options,
        "data": {"manifest": str(manifest.resolve()), "manifest_sha256": sha256_of(manifest),
                 "files": stamps.files_digest(_items_files(items))},
    }


def evaluate(model: str | None, checkpoint: str | Path | None, data: str | Path,
             split: str = "tt", out_dir: str | Path = "results", save_audio: int = 0,
             metrics: tuple[str, ...] = DEFAULT_METRICS, frontend_checkpoint: str | None = None,
             device: str | None = None, quiet: bool = False, dataset: str | None = None,
             lip_rows: int = LIP_CROP, random_init: bool = False, name: str | None = None,
             overwrite: bool = False, visual_condition: str | None = None,
             visual_seed: int = 0, **config: Any) -> dict[str, Any]:
    """Separate and score every target of `split`; returns the summary written to summary.json.

    Args:
        model: registered name or `package.module:Class`; None = the separator the checkpoint
            records (a checkpoint recording another one is an error).
        dataset: names the data in tables (default: the corpus recorded in the prepared
            folder's report.json, e.g. lrs2 -> LRS2-2Mix, else the folder name).
        lip_rows: lip crop height fed to the model: 88 (default, the full crop) or 50, the
            official IIANet loaders' slice that its released checkpoints were trained on.
        random_init: allow a trainable separator without a checkpoint (its row says so).
        name: display name of the row in tables (default: the model's).
        overwrite: remove this folder's earlier evaluation outputs instead of refusing a
            folder stamped by another evaluation.
        visual_condition: damage the lips (`kind:value`, data.visual_conditions), seeded by
            `visual_seed`; recorded in the stamp and summary, and in the default dataset label.
    """
    from avss_bench.metrics import score_utterance, summarize

    info = init_distributed()
    split = canonical_split(split)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AvssError(f"cannot create the results folder: {err.strerror}", out) from err
    checkpoint = None if checkpoint is None else Path(checkpoint)
    frontend_checkpoint = None if frontend_checkpoint is None else Path(frontend_checkpoint)
    model = stamps.model_from_checkpoint(model, checkpoint)
    entry = separators.resolve(model)
    if device is None:
        device = f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"
    device = resolve_device(device)  # a typo or an absent GPU: one line, before any work
    separator = load_separator(model, checkpoint=checkpoint,
                               frontend_checkpoint=frontend_checkpoint,
                               random_frontend=random_init, **config)
    random_frontend = (frontend_checkpoint is None
                       and getattr(separator, "frontend_loaded", True) is False)
    if checkpoint is None and is_trainable(separator) and not random_init:
        raise AvssError(f"'{model}' has trainable weights but no --checkpoint was given; pass "
                        "--random-init to evaluate randomly initialised weights")
    separator = separator.to(device)
    manifest = manifest_path(data, split)
    condition = None if visual_condition is None else parse_condition(visual_condition,
                                                                     visual_seed)
    items = TargetSpeakerDataset(manifest, segment_s=None, lip_rows=lip_rows,
                                 visual_condition=condition)
    options = {"split": split, "metrics": list(metrics), "lip_rows": lip_rows,
               "random_init": (checkpoint is None and is_trainable(separator)) or random_frontend,
               "config_overrides": config, "save_audio": save_audio,
               "world_size": info.world_size}
    if condition is not None:  # absent for clean runs, so their stamps stay as they were
        options["visual_condition"] = condition.as_dict()
    stamp = evaluation_stamp(entry.target, checkpoint, frontend_checkpoint, manifest, items,
                             options)
    if info.is_main:  # rank 0 alone judges and clears the folder; the others wait for it
        stamps.check_folder(out, stamp, overwrite)
        stamps.write_stamp(out, stamp)
    if info.world_size > 1:
        torch.distributed.barrier()
    fields = _fields(metrics)
    partial = out / (f"results.rank{info.rank}.partial.csv" if info.world_size > 1
                     else "results.partial.csv")
    _drop_torn_tail(partial)
    done = {(r["mixture_id"], r["target"]) for r in _read_done(partial)}
    indices = [i for i in shard_range(len(items), info.rank, info.world_size)
               if (items.items[i].mixture_id, items.items[i].target) not in done]
    started = time.monotonic()
    pending: list[dict[str, Any]] = []
    checked = False
    bar = tqdm(indices, desc=f"evaluate {split}", disable=quiet or not info.is_main)
    for index in bar:
        item = items[index]
        mixture = item["mixture"][None].to(device)
        with torch.inference_mode():
            estimate = separator(mixture, item["lips"][None].to(device))
        if not checked:
            check_separator_output(estimate, mixture, model, checkpoint)
            checked = True
        estimate_np = estimate[0].float().cpu().numpy().astype(np.float64)
        mixture_np = item["mixture"].numpy().astype(np.float64)
        target_np = item["target"].numpy().astype(np.float64)
        scored = score_utterance(estimate_np[None], target_np[None], mixture_np, SAMPLE_RATE,
                                 metrics=metrics, permute=False)
        pending.append(_flatten(item["mixture_id"], item["target_name"], scored))
        if index < save_audio:
            example = out / "examples" / f"{item['mixture_id']}_{item['target_name']}.wav"
            example.parent.mkdir(exist_ok=True)
            peak = max(1.0, float(np.abs(estimate_np).max()))
            write_bytes(example, float_wav_bytes(estimate_np / peak, SAMPLE_RATE))
        if len(pending) >= 16:
            _append_rows(partial, pending, fields)
            pending = []
    if pending:
        _append_rows(partial, pending, fields)
    if info.world_size > 1:
        torch.distributed.barrier()
        if not info.is_main:
            return {}
        parts = [out / f"results.rank{r}.partial.csv" for r in range(info.world_size)]
    else:
        parts = [partial]
    rows = [row for part in parts for row in _read_done(part)]
    frame = pd.DataFrame(rows, columns=fields)
    for column in fields:
        if column not in KEY and not column.endswith("_error"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.sort_values(list(KEY), kind="stable").reset_index(drop=True)
    if len(frame) != len(items):
        raise RuntimeError(f"evaluation produced {len(frame)} rows for {len(items)} targets")
    with atomic_path(out / "results.csv") as tmp:
        frame.to_csv(tmp, index=False)
    absent = None
    if has_absent_targets(manifest):  # prepared with --target-absent: the leak through a
        table, absent = score_absent(separator, manifest, device, lip_rows)  # silent face
        with atomic_path(out / "absent.csv") as tmp:
            table.to_csv(tmp, index=False)
    summary = {
        "model": model, "model_target": entry.target, "model_package": entry.package(),
        "name": name,
        "split": split, "data": str(Path(data).resolve()),
        "dataset": dataset or (corpus_name(Path(data), split)
                              + ("" if condition is None else f" [{condition.spec}]")),
        "visual_condition": None if condition is None else condition.as_dict(),
        "num_targets": len(frame), "metrics": summarize(frame, metrics_of(fields)),
        "target_absent_leak_db": absent,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": stamp["checkpoint_sha256"],
        "random_init": options["random_init"], "lip_rows": lip_rows,
        "config": getattr(separator, "config", {}),
        "params_separator": count_separator_params(separator),
        "world_size": info.world_size, "seconds": round(time.monotonic() - started, 3),
        "command": " ".join(sys.argv), "stamp": stamp,
        **provenance(options),
    }
    write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    for part in parts:
        part.unlink(missing_ok=True)
    return summary


def corpus_name(data: Path, split: str | None = None) -> str:
    """The data's label: the corpus of a prepared folder (its report.json) when `split` was
    built from that corpus's official mixture list, else the folder's name.

    A folder prepared in the LRS2 layout from generated lists (the demo corpus, a user's own
    data) is not LRS2-2Mix and must not share its column in tables.
    """
    folder = data if data.is_dir() else data.parent.parent
    report = folder / "report.json"
    if report.is_file():
        try:
            content = json.loads(report.read_text())
        except (OSError, json.JSONDecodeError):
            return folder.name
        lists = content.get("lists") or {}
        origin = (lists.get(split) or {}).get("origin") if split else None
        if content.get("corpus") and (origin == "official" or (split is None and not lists)):
            return str(content["corpus"])
    return folder.name


def metrics_of(fields: list[str]) -> list[str]:
    """The metric columns (values and improvements) of a results table."""
    return [f for f in fields if f not in KEY and not f.endswith("_error")]


def count_separator_params(model: torch.nn.Module) -> int:
    """Parameters of the separator without its lip front-end (the papers' Params column)."""
    frontend = getattr(model, "lip_frontend", None)
    skip = {id(p) for p in frontend.parameters()} if frontend is not None else set()
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)
