"""Training loop: target-speaker extraction with the official recipes' optimisation setup.

One process or many under `torchrun` (PyTorch DDP: gloo on CPU, nccl on GPU). Every epoch ends
with an atomic `last.pt` (model, optimizer, scheduler, GradScaler, epoch, best score,
early-stopping count, every rank's python/numpy/torch/CUDA RNG state and the position in the
epoch) and, when validation improves, `best.pt`; `optim.checkpoint_every` and `optim.max_steps`
write `last.pt` in the middle of an epoch too. `--resume` continues from `last.pt` bit for bit:
the data order and lip augmentation of epoch e depend only on (seed, epoch, index), the
DataLoaders draw from their own generators, and the RNG states (Dropout, DropPath) are restored.
Rank 0 decides every stop (time budget, max_steps, early stopping, a non-finite loss on any rank)
and broadcasts it, so ranks never leave an epoch at different steps.
"""

from __future__ import annotations

import csv
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from avss_bench import __version__
from avss_bench.core.atomic import write_torch
from avss_bench.core.device import resolve_device
from avss_bench.core.distributed import (
    DistInfo,
    any_rank,
    gather_objects,
    init_distributed,
    rank0_decides,
)
from avss_bench.core.errors import AvssError
from avss_bench.core.provenance import git_commit
from avss_bench.data.dataset import DynamicMixDataset, TargetSpeakerDataset
from avss_bench.data.sampling import ContiguousShardSampler, GlobalBatchSampler
from avss_bench.io.manifest import manifest_path
from avss_bench.models.checkpoints import read_checkpoint, save_checkpoint
from avss_bench.models.contract import check_separator_output, first_forward
from avss_bench.models.registry import build_separator, separators
from avss_bench.train.config import RunConfig, save_config
from avss_bench.train.losses import negative


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch CPU and CUDA RNG states (loadable weights_only)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: Stop codes rank 0 broadcasts (0 = keep going).
STOPS = {1: "non_finite_loss", 2: "time_budget", 3: "max_steps", 4: "early_stopping"}


def make_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer) -> Any:
    """The learning-rate schedule `optim.schedule` names (see `OptimConfig`)."""
    opt = config.optim
    if opt.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=opt.plateau_factor, patience=opt.plateau_patience)
    if opt.schedule != "cosine":
        raise AvssError(f"unknown optim.schedule '{opt.schedule}' (plateau, cosine)")
    if not opt.max_steps:
        raise AvssError("optim.schedule=cosine needs optim.max_steps (the length of the decay)")
    total, warmup, floor = opt.max_steps, max(0, opt.warmup_steps), opt.cosine_floor

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Parameters the optimizer receives (a frozen lip front-end is left out)."""
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(config: RunConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    name = config.optim.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=config.optim.lr,
                                 weight_decay=config.optim.weight_decay)
    raise AvssError(f"unknown optimizer '{config.optim.optimizer}' (adam, adamw)")


def _batches(loader: DataLoader, device: torch.device):
    for batch in loader:
        yield (batch["mixture"].to(device), batch["lips"].to(device),
               batch["target"].to(device))


PRECISIONS = ("fp32", "bf16", "fp16")


def _autocast(config: RunConfig, device: torch.device):
    """Autocast for bf16/fp16 (CUDA or CPU); fp32 runs without it."""
    if config.precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if config.precision == "bf16" else torch.float16
        return torch.autocast(device.type, dtype=dtype)
    return torch.autocast(device.type, enabled=False)


def _loader_generator(seed: int) -> torch.Generator:
    """DataLoaders draw their worker seeds from this, never from the global RNG (exact resume)."""
    return torch.Generator().manual_seed(seed)


def evaluate_loss(model: torch.nn.Module, loader: DataLoader, device: torch.device,
                  info: DistInfo) -> float:
    """Mean SI-SNR (dB) over a loader, averaged across ranks by example count."""
    from avss_bench.train.losses import si_snr

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for mixture, lips, target in _batches(loader, device):
            values = si_snr(model(mixture, lips).float(), target)
            total += float(values.sum())
            count += values.numel()
    if info.world_size > 1:
        buf = torch.tensor([total, count], dtype=torch.float64, device=device)
        dist.all_reduce(buf)
        total, count = float(buf[0]), int(buf[1])
    return total / max(count, 1)


class Trainer:
    """Everything one training run needs; `run()` trains until a stop condition."""

    def __init__(self, config: RunConfig, out_dir: Path, quiet: bool = False,
                 device: str | None = None, cache_lip_embeddings: bool = False) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.quiet = quiet
        self.info = init_distributed()
        if device is None:
            device = f"cuda:{self.info.local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = resolve_device(device)  # a typo or an absent GPU: one line, before work
        if config.data.root is None:
            raise AvssError("no data: set data.root in the recipe or pass --data DIR")
        if not config.model.name:
            raise AvssError("no model: set model.name in the recipe or pass --model NAME")
        if config.precision not in PRECISIONS:
            raise AvssError(f"unknown precision '{config.precision}' ({', '.join(PRECISIONS)})")
        seed_everything(config.seed)
        try:
            self.model = build_separator(config.model.name, **config.model.config)
        except (TypeError, ValueError) as err:  # a constructor refusing model.config
            raise AvssError(f"model.config {config.model.config} does not build "
                            f"'{config.model.name}': {str(err).splitlines()[0]}") from None
        load_frontend(self.model, config)
        self.model.to(self.device)
        if self.info.world_size > 1 and config.model.sync_batchnorm:
            from avss_bench.train.sync_bn import sync_batchnorm

            self.model = sync_batchnorm(self.model, self.device)
        self.params = trainable_parameters(self.model)
        if not self.params:
            raise AvssError(f"separator '{config.model.name}' has no trainable parameters")
        self.optimizer = make_optimizer(config, self.params)
        self.scheduler = make_scheduler(config, self.optimizer)
        self.loss_fn = negative(config.optim.loss)
        self.contract_checked = False
        root = Path(config.data.root)
        train_class = DynamicMixDataset if config.data.dynamic_mixing else TargetSpeakerDataset
        self.train_set = train_class(
            manifest_path(root, config.data.train_split), segment_s=config.data.segment_s,
            train=config.data.lip_augment, preload=config.data.preload, seed=config.seed,
            lip_rows=config.data.lip_rows)
        self.valid_set = TargetSpeakerDataset(
            manifest_path(root, config.data.valid_split), segment_s=config.data.segment_s,
            preload=config.data.preload, lip_rows=config.data.lip_rows)
        self.train_set.check()
        self.valid_set.check()
        # What a training step runs: the separator, or separate() on cached lip embeddings.
        train_module: torch.nn.Module = self.model
        self.lip_cache = None
        if cache_lip_embeddings:
            from avss_bench.train.embedding_cache import cached_forward

            train_module = cached_forward(self.model, config.data.lip_augment, config.model.name)
            self.lip_cache = train_module.cache
        self.ddp_model: torch.nn.Module = train_module
        if self.info.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # Some separators leave parameters out of the graph at some settings.
            self.ddp_model = DistributedDataParallel(train_module, device_ids=ids,
                                                     find_unused_parameters=True)
        # fp16 needs loss scaling (small gradients underflow); bf16 has fp32's range.
        self.scaler = torch.amp.GradScaler(self.device.type,
                                           enabled=config.precision == "fp16")
        self.epoch = 0
        self.best = -math.inf
        self.bad_epochs = 0
        self.step = 0
        self.batch_in_epoch = 0  # batches of epoch `epoch` already trained on
        self.epoch_sums = (0.0, 0)  # (loss x examples, examples) so far in this epoch
        self._resumed_rng: dict[str, Any] | None = None

    # ---- data -------------------------------------------------------------------------------
    def _train_loader(self, epoch: int) -> DataLoader:
        """Epoch `epoch`'s batches: the same global batches whatever the number of ranks."""
        self.train_set.epoch = epoch
        sampler = GlobalBatchSampler(len(self.train_set),
                                     self.config.data.batch_size * self.info.world_size,
                                     self.info.rank, self.info.world_size, self.config.seed)
        sampler.set_epoch(epoch)
        batches = list(sampler)[self.batch_in_epoch:]  # resume in the middle of an epoch
        return DataLoader(self.train_set, batch_sampler=batches,
                          num_workers=self.config.data.num_workers,
                          generator=_loader_generator(self.config.seed + epoch))

    def _valid_loader(self) -> DataLoader:
        sampler = None
        if self.info.world_size > 1:
            sampler = ContiguousShardSampler(len(self.valid_set), self.info.rank,
                                             self.info.world_size)
        return DataLoader(self.valid_set, batch_size=self.config.data.batch_size,
                          sampler=sampler, num_workers=self.config.data.num_workers,
                          generator=_loader_generator(self.config.seed))

    def _epoch_batches(self) -> int:
        return len(self.train_set) // (self.config.data.batch_size * self.info.world_size)

    def _best_without_bookkeeping(self) -> None:
        """Validate and write best.pt without touching best / early stopping (exact resume)."""
        valid = evaluate_loss(self.ddp_model, self._valid_loader(), self.device, self.info)
        if self.info.is_main:
            extra = {"training": {"epoch": self.epoch, "step": self.step,
                                  "valid_si_snr": valid, "config": self.config.to_dict(),
                                  "git_commit": git_commit(), "avss_bench_version": __version__}}
            save_checkpoint(self.model, self.out_dir / "best.pt", self.config.model.name, extra)

    # ---- state ------------------------------------------------------------------------------
    def state(self, rngs: list[Any]) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "epoch_sums": list(self.epoch_sums), "best": self.best,
                "bad_epochs": self.bad_epochs, "step": self.step, "rng": rngs,
                "world_size": self.info.world_size, "config": self.config.to_dict()}

    def resume(self) -> bool:
        """Load `last.pt` if present; returns whether a state was loaded."""
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        state = read_checkpoint(path)
        if not isinstance(state, dict) or "model" not in state or "optimizer" not in state:
            raise AvssError("not a training state (last.pt holds model, optimizer, epoch, ...)",
                            path)
        changed = resume_mismatch(state.get("config") or {}, self.config.to_dict())
        if changed:
            raise AvssError(f"was written by another training setup: {changed}; resume with the "
                            "same recipe and overrides, or train into another --out", path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise AvssError("its weights do not fit this model "
                            f"({str(err).splitlines()[0]}); resume with the same model and "
                            "model.config, or train into another --out", path) from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best = int(state["epoch"]), float(state["best"])
        self.bad_epochs, self.step = int(state["bad_epochs"]), int(state["step"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        total, count = state.get("epoch_sums", (0.0, 0))
        self.epoch_sums = (float(total), int(count))
        rngs = state.get("rng") or []
        if len(rngs) == self.info.world_size:
            set_rng_state(rngs[self.info.rank])
        elif self.info.is_main and not self.quiet:
            print(f"note: {path} was written by {len(rngs)} process(es), this run has "
                  f"{self.info.world_size}: RNG streams restart (not an exact continuation)")
        return True

    def _save_last(self) -> None:
        """Write last.pt (a collective: every rank contributes its RNG state)."""
        rngs = gather_objects(rng_state(), self.info)
        if self.info.is_main:
            write_torch(self.out_dir / "last.pt", self.state(rngs))

    def _save(self, improved: bool) -> None:
        self._save_last()
        if not self.info.is_main:
            return
        extra = {"training": {"epoch": self.epoch, "best_valid_si_snr": self.best,
                              "config": self.config.to_dict(), "git_commit": git_commit(),
                              "avss_bench_version": __version__}}
        if improved:
            save_checkpoint(self.model, self.out_dir / "best.pt", self.config.model.name, extra)

    def _tensorboard(self):  # noqa: ANN202 - SummaryWriter or None
        """A TensorBoard writer in OUT/tensorboard when the `tensorboard` package is installed."""
        if not hasattr(self, "_tb"):
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: pip install "avss-bench[tensorboard]"
                self._tb = None
            else:
                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._tb

    def _log(self, row: dict[str, Any]) -> None:
        if not self.info.is_main:
            return
        writer = self._tensorboard()
        if writer is not None:
            for key in ("train_loss", "valid_si_snr", "lr"):
                writer.add_scalar(key, row[key], row["epoch"])
            writer.flush()
        path = self.out_dir / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    # ---- loop -------------------------------------------------------------------------------
    def _stop_code(self, non_finite: bool, deadline: float | None) -> int:
        """Rank 0's stop decision after a step, broadcast (every rank calls this)."""
        non_finite = any_rank(non_finite, self.info, self.device)
        code = 0
        if non_finite:
            code = 1
        elif deadline is not None and time.monotonic() > deadline:
            code = 2
        elif self.config.optim.max_steps is not None and self.step >= self.config.optim.max_steps:
            code = 3
        return rank0_decides(code, self.info, self.device)

    def train_epoch(self, deadline: float | None) -> tuple[float, int, int]:
        """The rest of the epoch (or until a stop): (mean loss, examples, stop code)."""
        self.ddp_model.train()
        loader = self._train_loader(self.epoch)
        total, count = self.epoch_sums
        every = self.config.optim.checkpoint_every
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False,
                   disable=self.quiet or not self.info.is_main)
        code = 0
        for batch in bar:
            mixture = batch["mixture"].to(self.device)
            lips = batch["lips"].to(self.device)
            target = batch["target"].to(self.device)
            with _autocast(self.config, self.device), first_forward(
                    self.config.model.name, lips, not self.contract_checked):
                estimate = self.ddp_model(mixture, lips)
            if not self.contract_checked:  # a [B, 1, T] output would broadcast in the loss
                check_separator_output(estimate, mixture, self.config.model.name)
                self.contract_checked = True
            loss = self.loss_fn(estimate.float(), target)
            if self._stop_code(not bool(torch.isfinite(loss)), None) == 1:
                raise AvssError(f"loss became non-finite at step {self.step} "
                                f"(epoch {self.epoch + 1}, on at least one rank); lower "
                                "optim.lr or check the data")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.config.optim.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.params, self.config.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.config.optim.schedule == "cosine":
                self.scheduler.step()
            self.step += 1
            self.batch_in_epoch += 1
            total += float(loss.detach()) * mixture.shape[0]
            count += mixture.shape[0]
            self.epoch_sums = (total, count)
            bar.set_postfix(loss=f"{total / count:.2f}")
            code = self._stop_code(False, deadline)
            if code or (every and self.step % every == 0):
                self._save_last()
            if code:
                break
        return total / max(count, 1), count, code

    def run(self, resume: bool = False) -> dict[str, Any]:
        """Train until max_epochs, early stopping or the time budget; returns a summary."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume and self.resume() and self.info.is_main and not self.quiet:
            print(f"resumed from {self.out_dir / 'last.pt'} at epoch {self.epoch}")
        if self.info.is_main:
            save_config(self.config, self.out_dir / "config.yaml")
        opt = self.config.optim
        deadline = None if opt.max_minutes is None else time.monotonic() + 60 * opt.max_minutes
        started = time.monotonic()
        samples = 0
        stop_reason = "max_epochs"
        while self.epoch < opt.max_epochs:
            if opt.max_steps is not None and self.step >= opt.max_steps:
                stop_reason = STOPS[3]
                break
            epoch_start = time.monotonic()
            seen_before = self.epoch_sums[1]
            train_loss, seen, code = self.train_epoch(deadline)
            samples += seen - seen_before
            if code == 3 and self.batch_in_epoch < self._epoch_batches():
                # max_steps in the middle of an epoch: last.pt holds the position; a later
                # run with a larger max_steps continues exactly. Give the run a best.pt.
                stop_reason = STOPS[3]
                if not (self.out_dir / "best.pt").exists():
                    self._best_without_bookkeeping()
                break
            valid = evaluate_loss(self.ddp_model, self._valid_loader(), self.device, self.info)
            if self.config.optim.schedule == "plateau":
                self.scheduler.step(valid)
            self.epoch += 1
            self.batch_in_epoch, self.epoch_sums = 0, (0.0, 0)
            improved = valid > self.best
            if improved:
                self.best, self.bad_epochs = valid, 0
            else:
                self.bad_epochs += 1
            self._save(improved)
            self._log({"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                       "valid_si_snr": valid, "lr": self.optimizer.param_groups[0]["lr"],
                       "seconds": round(time.monotonic() - epoch_start, 3)})
            if self.info.is_main and not self.quiet:
                print(f"epoch {self.epoch}: train loss {train_loss:.3f}  "
                      f"valid SI-SNR {valid:.2f} dB  best {self.best:.2f} dB")
            if code == 0 and self.bad_epochs >= opt.early_stop_patience:
                code = 4
            if code == 0 and deadline is not None and time.monotonic() > deadline:
                code = 2
            code = rank0_decides(code, self.info, self.device)
            if code:
                stop_reason = STOPS[code]
                break
        elapsed = time.monotonic() - started
        if self.info.is_main and not (self.out_dir / "best.pt").is_file():
            raise AvssError(f"training stopped ({stop_reason}) at epoch {self.epoch}, step "
                            f"{self.step} before any best.pt was written: raise "
                            "optim.max_epochs / optim.max_steps", self.out_dir)
        summary = {"epochs": self.epoch, "steps": self.step, "best_valid_si_snr": self.best,
                   "stop_reason": stop_reason, "seconds": elapsed,
                   "samples_per_second": samples * self.info.world_size / max(elapsed, 1e-9),
                   "best_checkpoint": str(self.out_dir / "best.pt")}
        if self.lip_cache is not None:
            summary["lip_embedding_cache"] = self.lip_cache.stats()
        return summary


#: Keys a resumed run may change: its budget and how data is loaded, never what is trained.
RESUMABLE_CHANGES = ("optim.max_epochs", "optim.max_steps", "optim.max_minutes",
                     "optim.checkpoint_every", "optim.early_stop_patience", "data.num_workers",
                     "data.preload", "model.frontend_checkpoint", "description")


def resume_mismatch(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting (dotted key) in which a run's config differs from the one its last.pt
    was written with, outside `RESUMABLE_CHANGES`; None when they agree."""
    from avss_bench.core.provenance import first_mismatch

    def strip(config: dict[str, Any]) -> dict[str, Any]:
        out = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
        for key in RESUMABLE_CHANGES:
            section, _, name = key.rpartition(".")
            (out.get(section, {}) if section else out).pop(name, None)
        return out

    if not old:
        return None  # a last.pt of an older avss-bench records no config
    return first_mismatch(strip(old), strip(new))


def load_frontend(model: torch.nn.Module, config: RunConfig) -> None:
    """Fill the visual encoder from the file the recipe names, or refuse to train an untrained
    one silently.

    A model whose card says `needs_frontend_weights` (a pretrained, usually frozen, visual
    encoder) needs `model.frontend_checkpoint` (a file: loaded through the model's
    `load_visual_encoder(path)` hook, else into its LRW lip front-end) or the explicit "random";
    other models (a lip encoder trained with the rest) accept a file or nothing.
    """
    from avss_bench.models.lip_frontend import RANDOM, find_frontend_checkpoint
    from avss_bench.models.registry import load_visual_encoder

    name = config.model.frontend_checkpoint
    card = separators.resolve(config.model.name).card()
    if name == RANDOM:
        return
    if name is None:
        if card.needs_frontend_weights:
            files = [f.name for f in card.official_files if f.frontend]
            example = f" such as {' or '.join(files)}" if files else ""
            raise AvssError(f"'{config.model.name}' needs trained weights for its visual "
                            f"encoder ({card.visual_encoder or 'lip front-end'}) but the "
                            f"recipe names no model.frontend_checkpoint (a file{example}, or "
                            "'random' / --random-frontend to train against a random one)")
        return
    path = find_frontend_checkpoint(name, card.official_file(Path(name).name))
    card.check_official_sha256(path)
    load_visual_encoder(model, path, config.model.name)


def train(config: RunConfig, out_dir: Path, resume: bool = False, quiet: bool = False,
          device: str | None = None, cache_lip_embeddings: bool = False) -> dict[str, Any]:
    """Train a separator as `config` says; the plain-function form of `avss-bench train`.

    `cache_lip_embeddings`: compute each item's lip embedding once and train `separate` on it
    (a frozen visual encoder and no lip augmentation only; `train.embedding_cache`)."""
    return Trainer(config, out_dir, quiet=quiet, device=device,
                   cache_lip_embeddings=cache_lip_embeddings).run(resume=resume)
