"""`avss-bench demo`: every stage end to end on the embedded demo corpus.

generate (talking faces + speech-like audio, LRS2 layout) -> prepare (mixtures, MediaPipe lip
ROIs, manifests; the same code as a real corpus) -> train (demo recipe) -> evaluate (the model
and the unprocessed mixture) -> profile -> leaderboard table. Each stage is skipped when its
output is already complete, so an interrupted demo resumes; `force=True` redoes everything.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError

DEMO_RECIPE = "demo/iianet-demo"
DEMO_MIXTURES = {"tr": 400, "cv": 40, "tt": 60}


class DemoRun:
    """The demo's stages over one work folder, with per-stage wall times."""

    def __init__(self, workdir: Path, seed: int = 0, landmarker: Path | None = None,
                 recipe: str = DEMO_RECIPE, train_minutes: float | None = None,
                 quiet: bool = False, echo: Callable[[str], None] = print) -> None:
        from avss_bench.train.config import load_config

        self.workdir = Path(workdir)
        self.seed = seed
        self.landmarker = landmarker
        self.recipe = recipe
        self.model = load_config(recipe).model.name
        self.train_minutes = train_minutes
        self.quiet = quiet
        self.echo = echo
        self.timings: dict[str, float] = {}

    # folders
    @property
    def corpus(self) -> Path:
        return self.workdir / "corpus"

    @property
    def prepared(self) -> Path:
        return self.workdir / "prepared"

    @property
    def checkpoint(self) -> Path:
        return self.workdir / "checkpoints" / f"{self.model}.pt"

    def results(self, name: str) -> Path:
        return self.workdir / "results" / name

    def _stage(self, name: str, done: bool, action: Callable[[], Any]) -> None:
        if done:
            self.echo(f"[demo] {name}: already complete, skipped")
            self.timings[name] = 0.0
            return
        self.echo(f"[demo] {name} ...")
        start = time.monotonic()
        action()
        self.timings[name] = round(time.monotonic() - start, 1)
        self.echo(f"[demo] {name}: done in {self.timings[name]:.1f} s")

    def generate(self) -> None:
        from avss_bench.demo.corpus import generate_demo_corpus
        from avss_bench.demo.corpus.generate import STAMP_NAME

        self._stage("generate corpus", (self.corpus / STAMP_NAME).is_file(),
                    lambda: generate_demo_corpus(self.corpus, seed=self.seed, quiet=self.quiet))

    def prepare(self) -> None:
        from avss_bench.prepare.pipeline import prepare_corpus

        done = all((self.prepared / "manifests" / f"{s}.csv").is_file() for s in DEMO_MIXTURES)
        self._stage("prepare (mixtures, lip ROIs, manifests)", done, lambda: prepare_corpus(
            "lrs2", self.corpus, self.prepared, mix_list="generate", seed=self.seed,
            landmarker=self.landmarker, num_mixtures=dict(DEMO_MIXTURES), quiet=self.quiet))

    def train(self) -> None:
        from avss_bench.train.config import load_config
        from avss_bench.train.loop import train

        def run() -> None:
            overrides = [f"data.root={self.prepared}", f"seed={self.seed}"]
            if self.train_minutes is not None:
                overrides.append(f"optim.max_minutes={self.train_minutes}")
            config = load_config(self.recipe, overrides)
            summary = train(config, self.workdir / "runs" / self.model, resume=True,
                            quiet=self.quiet)
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(summary["best_checkpoint"], self.checkpoint)
            self.echo(f"[demo] trained {summary['epochs']} epochs, {summary['steps']} steps, "
                      f"{summary['samples_per_second']:.1f} samples/s, best valid SI-SNR "
                      f"{summary['best_valid_si_snr']:.2f} dB")

        self._stage("train", self.checkpoint.is_file(), run)

    def evaluate(self) -> None:
        from avss_bench.evaluate.run import evaluate

        for name, checkpoint in ((self.model, self.checkpoint), ("mixture", None)):
            out = self.results(name)
            self._stage(f"evaluate {name}", (out / "summary.json").is_file(),
                        lambda n=name, c=checkpoint, o=out: evaluate(
                            n, c, self.prepared, split="tt", out_dir=o, save_audio=4,
                            quiet=self.quiet, dataset="demo"))

    def profile(self) -> None:
        out = self.results(self.model) / "profile.json"

        def run() -> None:
            from avss_bench.evaluate.profile import profile_separator

            report = profile_separator(self.model, checkpoint=str(self.checkpoint), seconds=1.0,
                                       runs=5)
            out.write_text(json.dumps(report.to_json(), indent=2))

        self._stage("profile", out.is_file(), run)

    def table(self) -> str:
        from avss_bench.evaluate.leaderboard import collect, render

        text = render(collect([self.results("mixture"), self.results(self.model)]))
        (self.workdir / "results" / "leaderboard.md").write_text(text + "\n")
        return text

    def run(self) -> dict[str, Any]:
        start = time.monotonic()
        self.generate()
        self.prepare()
        self.train()
        self.evaluate()
        self.profile()
        table = self.table()
        self.timings["total"] = round(time.monotonic() - start, 1)
        report = {"workdir": str(self.workdir), "timings_s": self.timings,
                  "checkpoint": str(self.checkpoint), "table": table}
        (self.workdir / "demo_report.json").write_text(json.dumps(report, indent=2))
        return report


def run_demo(workdir: Path, seed: int = 0, landmarker: Path | None = None, force: bool = False,
             recipe: str = DEMO_RECIPE, train_minutes: float | None = None, quiet: bool = False,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) the demo in `workdir`; returns timings and the table."""
    workdir = Path(workdir)
    if force and workdir.exists():
        if not (workdir / "demo_report.json").exists() and not (workdir / "corpus").exists():
            raise AvssError("refusing to delete a folder that is not a demo work folder", workdir)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return DemoRun(workdir, seed=seed, landmarker=landmarker, recipe=recipe,
                   train_minutes=train_minutes, quiet=quiet, echo=echo).run()
