"""Training loop: target-speaker extraction with the official recipes' optimisation setup.

One process or many under `torchrun` (PyTorch DDP: gloo on CPU, nccl on GPU). Every epoch ends
with an atomic `last.pt` (model, optimizer, scheduler, epoch, best score, early-stopping count)
and, when validation improves, `best.pt`; `--resume` continues from `last.pt` exactly, because
the data order and lip augmentation of epoch e depend only on (seed, epoch, rank).
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
from avss_bench.core.distributed import DistInfo, init_distributed
from avss_bench.core.errors import AvssError
from avss_bench.core.provenance import git_commit
from avss_bench.data.dataset import DynamicMixDataset, TargetSpeakerDataset
from avss_bench.data.sampling import ContiguousShardSampler, GlobalBatchSampler
from avss_bench.io.manifest import manifest_path
from avss_bench.models.checkpoints import read_checkpoint, save_checkpoint
from avss_bench.models.registry import build_separator
from avss_bench.train.config import RunConfig, save_config
from avss_bench.train.losses import negative


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def _autocast(config: RunConfig, device: torch.device):
    if device.type == "cuda" and config.precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if config.precision == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


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
                 device: str | None = None) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.quiet = quiet
        self.info = init_distributed()
        if device is None:
            device = f"cuda:{self.info.local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if config.data.root is None:
            raise AvssError("no data: set data.root in the recipe or pass --data DIR")
        seed_everything(config.seed)
        self.model = build_separator(config.model.name, **config.model.config).to(self.device)
        if config.model.frontend_checkpoint:
            from avss_bench.models.lip_frontend import load_frontend_weights

            load_frontend_weights(self.model.lip_frontend, Path(config.model.frontend_checkpoint))
        self.params = trainable_parameters(self.model)
        if not self.params:
            raise AvssError(f"separator '{config.model.name}' has no trainable parameters")
        self.optimizer = make_optimizer(config, self.params)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=config.optim.plateau_factor,
            patience=config.optim.plateau_patience)
        self.loss_fn = negative(config.optim.loss)
        root = Path(config.data.root)
        train_class = DynamicMixDataset if config.data.dynamic_mixing else TargetSpeakerDataset
        self.train_set = train_class(
            manifest_path(root, config.data.train_split), segment_s=config.data.segment_s,
            train=config.data.lip_augment, preload=config.data.preload, seed=config.seed)
        self.valid_set = TargetSpeakerDataset(
            manifest_path(root, config.data.valid_split), segment_s=config.data.segment_s,
            preload=config.data.preload)
        self.train_set.check()
        self.valid_set.check()
        self.ddp_model: torch.nn.Module = self.model
        if self.info.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)
        self.epoch = 0
        self.best = -math.inf
        self.bad_epochs = 0
        self.step = 0

    # ---- data -------------------------------------------------------------------------------
    def _train_loader(self, epoch: int) -> DataLoader:
        """Epoch `epoch`'s batches: the same global batches whatever the number of ranks."""
        self.train_set.epoch = epoch
        sampler = GlobalBatchSampler(len(self.train_set),
                                     self.config.data.batch_size * self.info.world_size,
                                     self.info.rank, self.info.world_size, self.config.seed)
        sampler.set_epoch(epoch)
        return DataLoader(self.train_set, batch_sampler=sampler,
                          num_workers=self.config.data.num_workers)

    def _valid_loader(self) -> DataLoader:
        sampler = None
        if self.info.world_size > 1:
            sampler = ContiguousShardSampler(len(self.valid_set), self.info.rank,
                                             self.info.world_size)
        return DataLoader(self.valid_set, batch_size=self.config.data.batch_size,
                          sampler=sampler, num_workers=self.config.data.num_workers)

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch,
                "best": self.best, "bad_epochs": self.bad_epochs, "step": self.step,
                "config": self.config.to_dict()}

    def resume(self) -> bool:
        """Load `last.pt` if present; returns whether a state was loaded."""
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        state = read_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best = int(state["epoch"]), float(state["best"])
        self.bad_epochs, self.step = int(state["bad_epochs"]), int(state["step"])
        return True

    def _save(self, improved: bool) -> None:
        if not self.info.is_main:
            return
        extra = {"training": {"epoch": self.epoch, "best_valid_si_snr": self.best,
                              "config": self.config.to_dict(), "git_commit": git_commit(),
                              "avss_bench_version": __version__}}
        write_torch(self.out_dir / "last.pt", self.state())
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
    def train_epoch(self, deadline: float | None) -> tuple[float, int]:
        """One pass over the training set (or until the deadline): (mean loss, examples)."""
        self.ddp_model.train()
        loader = self._train_loader(self.epoch)
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False,
                   disable=self.quiet or not self.info.is_main)
        for batch in bar:
            mixture = batch["mixture"].to(self.device)
            lips = batch["lips"].to(self.device)
            target = batch["target"].to(self.device)
            with _autocast(self.config, self.device):
                estimate = self.ddp_model(mixture, lips)
            loss = self.loss_fn(estimate.float(), target)
            if not torch.isfinite(loss):
                raise AvssError(f"loss became {float(loss)} at step {self.step} "
                                f"(epoch {self.epoch + 1}); lower optim.lr or check the data")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.params, self.config.optim.grad_clip)
            self.optimizer.step()
            self.step += 1
            total += float(loss.detach()) * mixture.shape[0]
            count += mixture.shape[0]
            bar.set_postfix(loss=f"{total / count:.2f}")
            if deadline is not None and time.monotonic() > deadline:
                break
        return total / max(count, 1), count

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
            epoch_start = time.monotonic()
            train_loss, seen = self.train_epoch(deadline)
            samples += seen
            valid = evaluate_loss(self.ddp_model, self._valid_loader(), self.device, self.info)
            self.scheduler.step(valid)
            self.epoch += 1
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
            if self.bad_epochs >= opt.early_stop_patience:
                stop_reason = "early_stopping"
                break
            if deadline is not None and time.monotonic() > deadline:
                stop_reason = "time_budget"
                break
        elapsed = time.monotonic() - started
        return {"epochs": self.epoch, "steps": self.step, "best_valid_si_snr": self.best,
                "stop_reason": stop_reason, "seconds": elapsed,
                "samples_per_second": samples * self.info.world_size / max(elapsed, 1e-9),
                "best_checkpoint": str(self.out_dir / "best.pt")}


def train(config: RunConfig, out_dir: Path, resume: bool = False, quiet: bool = False,
          device: str | None = None) -> dict[str, Any]:
    """Train a separator as `config` says; the plain-function form of `avss-bench train`."""
    return Trainer(config, out_dir, quiet=quiet, device=device).run(resume=resume)
