"""Evaluation: separate every (mixture, target) of a split at full length and score it.

Writes `results.csv` (one row per target, sorted) and `summary.json` (mean, 95% CI, failures,
provenance, and `test_set`: the record of what the split is, `avss_bench.io.testset`, which
tables compare results by) through the results layer it shares with `score --manifest`
(`results.py`). `save_audio` keeps estimates chosen from the whole scored distribution after
scoring (`examples.py`). Rows are written in atomically written chunks of 16 as they are
scored, so an interrupted run resumes
where it stopped; under torchrun every rank scores a contiguous, unpadded shard and rank 0
merges, so the merged CSV has exactly one row per target.

Every value column has its `*_error` column (the reason a metric is NaN), none is dropped. The
folder is stamped (`evaluate.stamp.json`: model, checkpoint sha256, options, data identity) and
partial results, examples or profile.json are reused only under the same stamp. Unknown metrics
stop before the model loads. The first estimate is checked against the Separator contract, and
a trainable separator without a checkpoint is refused unless `random_init` is asked for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from avss_bench.core.atomic import atomic_path
from avss_bench.core.constants import LIP_CROP, SAMPLE_RATE
from avss_bench.core.device import resolve_device
from avss_bench.core.distributed import init_distributed
from avss_bench.core.errors import AvssError
from avss_bench.data.dataset import TargetSpeakerDataset
from avss_bench.data.sampling import shard_range
from avss_bench.data.visual_conditions import parse_condition
from avss_bench.evaluate import results
from avss_bench.evaluate import stamp as stamps
from avss_bench.evaluate.absent import has_absent_targets, score_absent
from avss_bench.evaluate.examples import write_examples
from avss_bench.evaluate.profile import split_params
from avss_bench.io.manifest import canonical_split, manifest_path
from avss_bench.metrics.registry import metric_registry
from avss_bench.models.checkpoints import sha256_of
from avss_bench.models.contract import check_separator_output, first_forward, is_trainable
from avss_bench.models.registry import load_separator, separators

VERB = "evaluate"
#: What `evaluate` leaves in its folder besides results.csv, summary.json and its stamp.
OUTPUTS = ("profile.json", "absent.csv", "examples")
CHUNK = 16

__all__ = ["evaluate", "evaluation_stamp"]


def _row(mixture_id: str, target: str, scored: dict[str, Any]) -> dict[str, Any]:
    return {"mixture_id": mixture_id, "target": target, **scored["targets"][0]}


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
        "data": results.data_stamp(manifest, _items_files(items)),
    }



def evaluate(model: str | None, checkpoint: str | Path | None, data: str | Path,
             split: str = "tt", out_dir: str | Path = "results", save_audio: int = 0,
             metrics: tuple[str, ...] | None = None, frontend_checkpoint: str | None = None,
             device: str | None = None, quiet: bool = False, lip_rows: int = LIP_CROP,
             random_init: bool = False, name: str | None = None,
             overwrite: bool = False, visual_condition: str | None = None,
             visual_seed: int = 0, **config: Any) -> dict[str, Any]:
    """Separate and score every target of `split`; returns the summary written to summary.json.

    Args:
        model: registered name or `package.module:Class`; None = the separator the checkpoint
            records (a checkpoint recording another one is an error).
        metrics: names in the metric registry (default: its default set); an unknown one
            stops before anything loads.
        lip_rows: lip crop height fed to the model: 88 (default, the full crop) or 50, the
            official IIANet loaders' slice that its released checkpoints were trained on.
        random_init: allow a trainable separator without a checkpoint (its row says so).
        name: display name of the row in tables (default: the model's).
        overwrite: remove this folder's earlier evaluation outputs instead of refusing a
            folder stamped by another evaluation.
        visual_condition: damage the lips (`kind:value`, data.visual_conditions), seeded by
            `visual_seed`; recorded in the stamp and summary; the result is then on a
            condition of the split's test set (`test_set` in summary.json).
    """
    from avss_bench.metrics import score_utterance

    metrics = metric_registry.defaults() if metrics is None else metric_registry.check(metrics)
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
    test_set = results.test_set_of(manifest, None if condition is None else condition.as_dict())
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
        results.check_folder(out, stamp, VERB, overwrite, OUTPUTS)
        stamps.check_profile(out / "profile.json", stamp)
        results.write_stamp(out, stamp, VERB)
    if info.world_size > 1:
        torch.distributed.barrier()
    partial = results.Partial.of(out, results.result_columns(metrics))
    done = partial.done()
    indices = [i for i in shard_range(len(items), info.rank, info.world_size)
               if (items.items[i].mixture_id, items.items[i].target) not in done]
    started = time.monotonic()
    pending: list[dict[str, Any]] = []
    first = 0
    checked = False
    bar = tqdm(indices, desc=f"evaluate {split}", disable=quiet or not info.is_main)
    for index in bar:
        item = items[index]
        mixture = item["mixture"][None].to(device)
        lips = item["lips"][None].to(device)
        with torch.inference_mode(), first_forward(model, lips, not checked, manifest):
            estimate = separator(mixture, lips)
        if not checked:
            check_separator_output(estimate, mixture, model, checkpoint)
            checked = True
        estimate_np = estimate[0].float().cpu().numpy().astype(np.float64)
        mixture_np = item["mixture"].numpy().astype(np.float64)
        target_np = item["target"].numpy().astype(np.float64)
        scored = score_utterance(estimate_np[None], target_np[None], mixture_np, SAMPLE_RATE,
                                 metrics=metrics, permute=False)
        if not pending:
            first = index
        pending.append(_row(item["mixture_id"], item["target_name"], scored))
        if len(pending) >= CHUNK:
            partial.write(first, pending)
            pending = []
    if pending:
        partial.write(first, pending)
    if info.world_size > 1:
        torch.distributed.barrier()
        if not info.is_main:
            return {}
    table = partial.finish(out, len(items))
    # examples: chosen from every scored target, written after scoring (also on resume)
    write_examples(out, table, save_audio,
                   lambda mid, tgt: _separate_one(separator, items, device, mid, tgt))
    absent = None
    if has_absent_targets(manifest):  # prepared with --target-absent: the leak through a
        leak, absent = score_absent(separator, manifest, device, lip_rows)  # silent face
        with atomic_path(out / "absent.csv") as tmp:
            leak.to_csv(tmp, index=False)
    summary = results.build_summary(
        VERB, manifest=manifest, split=split, data=Path(data),
        dataset=test_set["label"],
        test_set=test_set, table=table, metrics=metrics, stamp=stamp, options=options,
        seconds=time.monotonic() - started,
        model={"model": model, "model_target": entry.target,
               "model_package": results.model_package(entry), "name": name},
        checkpoint=None if checkpoint is None else str(checkpoint),
        checkpoint_sha256=stamp["checkpoint_sha256"], random_init=options["random_init"],
        lip_rows=lip_rows, visual_condition=None if condition is None else condition.as_dict(),
        config=getattr(separator, "config", {}), params_separator=split_params(separator)[0],
        target_absent_leak_db=absent, world_size=info.world_size)
    results.write_summary(out, summary)
    partial.clear()
    return results.jsonable(summary)


def _separate_one(separator: torch.nn.Module, items: TargetSpeakerDataset, device: str,
                  mixture_id: str, target: str) -> np.ndarray:
    """One target's estimate again (an example chosen after scoring)."""
    index = next(i for i, it in enumerate(items.items)
                 if it.mixture_id == mixture_id and it.target == target)
    item = items[index]
    with torch.inference_mode():
        estimate = separator(item["mixture"][None].to(device), item["lips"][None].to(device))
    return estimate[0].float().cpu().numpy().astype(np.float64)
