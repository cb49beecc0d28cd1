"""The demo's training stage: a fixed number of optimiser steps, reproducible and resumable.

The general loop (`avss_bench.train.loop.Trainer`) does the work: `optim.max_steps` stops it
after a fixed number of steps, and its `last.pt` (RNG states, position in the epoch) makes a
resumed run continue bit for bit. The demo adds one progress bar over all steps with an ETA
and prints one line per epoch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from avss_bench.core.constants import DEMO_THREADS
from avss_bench.train.config import RunConfig
from avss_bench.train.loop import Trainer


@contextlib.contextmanager
def demo_threads() -> Iterator[None]:
    """Run torch's CPU kernels on `DEMO_THREADS` threads (float sums depend on the count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(DEMO_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Progress:
    """A training loader that advances the demo's progress bar as steps complete."""

    def __init__(self, loader: Iterable, trainer: DemoTrainer) -> None:
        self.loader = loader
        self.trainer = trainer

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            self.trainer.show_progress()
            yield batch
        self.trainer.show_progress()


class DemoTrainer(Trainer):
    """`Trainer` on CPU with `optim.max_steps = steps`, no time budget, one bar over all steps."""

    def __init__(self, config: RunConfig, out_dir: Path, steps: int, quiet: bool = False,
                 echo: Callable[[str], None] = print) -> None:
        optim = config.optim
        optim.max_steps = steps
        optim.max_minutes = None
        super().__init__(config, out_dir, quiet=True, device="cpu")
        optim.max_epochs = max(optim.max_epochs, math.ceil(steps / max(self._epoch_batches(), 1)))
        self.steps = steps
        self.show_bar = not quiet
        self.echo = echo
        self.bar: Any = None

    def show_progress(self) -> None:
        if self.bar is not None and self.step > self.bar.n:
            self.bar.update(self.step - self.bar.n)

    def _train_loader(self, epoch: int) -> Any:
        return _Progress(super()._train_loader(epoch), self)

    def _log(self, row: dict[str, Any]) -> None:
        super()._log(row)
        line = (f"  epoch {row['epoch']}: step {row['step']}/{self.steps}, train loss "
                f"{row['train_loss']:.2f}, valid SI-SNR {row['valid_si_snr']:.2f} dB")
        if self.bar is not None:
            self.bar.write(line)
        elif self.show_bar:
            self.echo(line)

    def run(self, resume: bool = False) -> dict[str, Any]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume and self.resume():
            self.echo(f"[demo] resuming training at step {self.step}/{self.steps} "
                      f"(epoch {self.epoch + 1})")
        self.bar = tqdm(total=self.steps, initial=self.step, desc="train", unit="step",
                        disable=not self.show_bar, leave=False, dynamic_ncols=True)
        try:
            return super().run(resume=False)
        finally:
            self.bar.close()
            self.bar = None


def train_steps(recipe: str, prepared: Path, run_dir: Path, seed: int, steps: int,
                quiet: bool = False,
                echo: Callable[[str], None] = print) -> tuple[dict[str, Any], RunConfig]:
    """Train `recipe` on the prepared demo corpus for `steps` optimiser steps (resuming).

    Returns the loop's summary and the run's resolved config.
    """
    from avss_bench.train.config import load_config

    config = load_config(recipe, [f"data.root={prepared}", f"seed={seed}"])
    with demo_threads():
        trainer = DemoTrainer(config, run_dir, steps, quiet=quiet, echo=echo)
        return trainer.run(resume=True), trainer.config
