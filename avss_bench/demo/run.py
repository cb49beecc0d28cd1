"""`avss-bench demo`: every stage end to end on the embedded demo corpus, reproducibly.

generate (talking faces + speech-like audio, LRS2 layout) -> prepare (mixtures, MediaPipe lip
ROIs, manifests; the same code as a real corpus) -> train (demo recipe) -> evaluate (the model
and the unprocessed mixture) -> profile -> robustness (a short damaged-video grid) ->
leaderboard and robustness tables. Each stage is skipped when its
output is already complete, so an interrupted demo resumes; `force=True` redoes everything.

Reproducible by construction: training runs a fixed number of optimiser steps (not minutes) on
a fixed number of CPU threads, and the random state of each epoch (dropout, drop-path) is seeded
from (seed, epoch), so the same seed gives the same checkpoint bytes and the same leaderboard
(all but the measured latency) on any machine, and a resumed demo the same bytes as an
uninterrupted one. The work folder holds a stamp (`.avss-demo.json`) with the demo's options:
a rerun with other options is refused, and `force` deletes only a folder holding that stamp.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_text, write_torch
from avss_bench.core.errors import AvssError
from avss_bench.demo.training import DEMO_THREADS, demo_threads

DEMO_RECIPE = "demo/iianet-demo"
DEMO_MIXTURES = 500  # split 400 tr / 40 cv / 60 tt
# 16 voices x 6 clips: 8 training speakers, 4 valid, 4 test (by pitch rank). Twice the voices
# of 8 x 10 at about the same number of clips: the model generalises to unseen voices better
DEMO_SPEAKERS, DEMO_CLIPS = 16, 6
DEMO_JOBS = 2  # worker processes of generate and prepare (their output does not depend on it)
DEMO_STEPS = 700  # optimiser steps of the default demo: 7 epochs of 100 steps (400 mixtures)
# the demo's short robustness grid (SI-SNRi only): face lost for 30 % of the frames, video 3
# frames (120 ms) late, video at half its frame rate
DEMO_CONDITIONS = ("zero:30", "offset:3", "fps:12.5")
STAMP_NAME = ".avss-demo.json"  # the demo's own stamp: only such folders are ever deleted


def split_mixtures(total: int) -> dict[str, int]:
    """Mixtures per split for `total` mixtures: 80 % train, 8 % valid, 12 % test (>= 2 each)."""
    if total < 10:
        raise AvssError(f"--mixtures must be >= 10, got {total}")
    valid, test = max(2, round(total * 0.08)), max(2, round(total * 0.12))
    return {"tr": total - valid - test, "cv": valid, "tt": test}


class DemoRun:
    """The demo's stages over one work folder, with per-stage wall times."""

    def __init__(self, workdir: Path, seed: int = 0, landmarker: Path | None = None,
                 recipe: str = DEMO_RECIPE, steps: int | None = None,
                 mixtures: int = DEMO_MIXTURES, quiet: bool = False,
                 echo: Callable[[str], None] = print) -> None:
        from avss_bench.train.config import load_config

        self.workdir = Path(workdir)
        self.seed = seed
        self.landmarker = landmarker
        self.recipe = recipe
        self.model = load_config(recipe).model.name
        self.steps = DEMO_STEPS if steps is None else int(steps)
        if self.steps < 1:
            raise AvssError(f"--steps must be >= 1, got {self.steps}")
        self.mixtures = split_mixtures(mixtures)
        self.quiet = quiet
        self.echo = echo
        self.timings: dict[str, float] = {}

    def options(self) -> dict[str, Any]:
        """What the work folder's results depend on (saved in its stamp)."""
        return {"seed": self.seed, "recipe": self.recipe, "steps": self.steps,
                "mixtures": self.mixtures, "speakers": DEMO_SPEAKERS,
                "clips_per_speaker": DEMO_CLIPS, "threads": DEMO_THREADS}

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
        from avss_bench.demo.corpus.generate import STAMP_NAME as CORPUS_STAMP

        self._stage("generate corpus", (self.corpus / CORPUS_STAMP).is_file(),
                    lambda: generate_demo_corpus(self.corpus, seed=self.seed, quiet=self.quiet,
                                                 num_speakers=DEMO_SPEAKERS,
                                                 clips_per_speaker=DEMO_CLIPS, jobs=DEMO_JOBS))

    def prepare(self) -> None:
        from avss_bench.prepare.pipeline import prepare_corpus

        done = all((self.prepared / "manifests" / f"{s}.csv").is_file() for s in self.mixtures)
        self._stage("prepare", done, lambda: prepare_corpus(
            "lrs2", self.corpus, self.prepared, mix_list="generate", seed=self.seed,
            landmarker=self.landmarker, num_mixtures=dict(self.mixtures), quiet=self.quiet,
            jobs=DEMO_JOBS, dataset_name="demo"))

    @property
    def checkpoint_record(self) -> Path:
        """The sha256 of the checkpoint the train stage wrote (its completion record)."""
        return self.checkpoint.with_suffix(".sha256")

    def train(self) -> None:
        self._stage("train", self._checkpoint_complete(), self._train)

    def _checkpoint_complete(self) -> bool:
        """Whether the train stage is done: the checkpoint holds the bytes it wrote. Changed
        bytes stop the demo (every later stage and the tables were made from the old ones)."""
        from avss_bench.core.hashing import sha256_of

        if not self.checkpoint.is_file() or not self.checkpoint_record.is_file():
            return False  # killed before the record: the train stage resumes and rewrites it
        written = self.checkpoint_record.read_text().strip()
        now = sha256_of(self.checkpoint)
        if now != written:
            raise AvssError(f"changed since the demo wrote it (sha256 {now[:12]}, written "
                            f"{written[:12]}); its results would not be this checkpoint's: "
                            "add --force to start over", self.checkpoint)
        return True

    def _train(self) -> None:
        from avss_bench.demo.training import train_steps

        run_dir = self.workdir / "runs" / self.model
        summary, config = train_steps(self.recipe, self.prepared, run_dir, seed=self.seed,
                                      steps=self.steps, quiet=self.quiet, echo=self.echo)
        write_demo_checkpoint(Path(summary["best_checkpoint"]), self.checkpoint, self.workdir,
                              config.to_dict())
        from avss_bench.core.hashing import sha256_of

        write_text(self.checkpoint_record, sha256_of(self.checkpoint) + "\n")
        self.echo(f"[demo] trained {summary['steps']} steps ({summary['epochs']} epochs), best "
                  f"valid SI-SNR {summary['best_valid_si_snr']:.2f} dB")

    def evaluate(self) -> None:
        from avss_bench.evaluate.run import evaluate

        for name, checkpoint in ((self.model, self.checkpoint), ("mixture", None)):
            out = self.results(name)
            self._stage(f"evaluate {name}", (out / "summary.json").is_file(),
                        lambda n=name, c=checkpoint, o=out: evaluate(
                            n, c, self.prepared, split="tt", out_dir=o, save_audio=4,
                            quiet=self.quiet))

    def profile(self) -> None:
        out = self.results(self.model) / "profile.json"

        def run() -> None:
            from avss_bench.evaluate.profile import profile_separator

            report = profile_separator(self.model, checkpoint=str(self.checkpoint), seconds=1.0,
                                       runs=5)
            write_text(out, json.dumps(report.to_json(), indent=2))

        self._stage("profile", out.is_file(), run)

    @property
    def robustness_dir(self) -> Path:
        return self.workdir / "results" / "robustness"

    def robustness(self) -> None:
        """The demo model on a short grid of damaged-video conditions (`avss-bench robustness`)."""
        out = self.robustness_dir

        def run() -> None:
            from avss_bench.robustness.grid import build_grid
            from avss_bench.robustness.plot import robustness_plot
            from avss_bench.robustness.run import run_robustness

            grid = build_grid([("demo", self.prepared)], list(DEMO_CONDITIONS), self.seed)
            frame = run_robustness(self.model, self.checkpoint, grid, out, seed=self.seed,
                                   quiet=self.quiet)
            robustness_plot(frame, out / "robustness.png")

        self._stage("robustness", (out / "robustness.png").is_file(), run)

    def robustness_table(self) -> str:
        from avss_bench.robustness.table import render_robustness

        text = render_robustness([self.robustness_dir])
        write_text(self.workdir / "results" / "robustness.md", text + "\n")
        return text

    def table(self) -> str:
        from avss_bench.evaluate.leaderboard import collect, group_entries, render

        text = render(group_entries(collect([self.results("mixture"),
                                             self.results(self.model)])))
        write_text(self.workdir / "results" / "leaderboard.md", text + "\n")
        return text

    def run(self) -> dict[str, Any]:
        start = time.monotonic()
        with demo_threads():
            self.generate()
            self.prepare()
            self.train()
            self.evaluate()
            self.profile()
            self.robustness()
            table = self.table()
            robustness = self.robustness_table()
        self.timings["total"] = round(time.monotonic() - start, 1)
        report = {"workdir": str(self.workdir), "options": self.options(),
                  "timings_s": self.timings, "checkpoint": str(self.checkpoint), "table": table,
                  "robustness": robustness}
        write_text(self.workdir / "demo_report.json", json.dumps(report, indent=2))
        return report


def write_demo_checkpoint(best: Path, dest: Path, workdir: Path,
                          run_config: dict[str, Any]) -> None:
    """Copy the best checkpoint without what differs between machines, folders or resumes.

    Keeps the weights, the rebuilding config, and the training summary with the run's config
    (`data.root` relative to the work folder); drops the git commit (it is in
    `results/*/summary.json`).
    """
    from avss_bench.models.checkpoints import read_checkpoint

    payload = read_checkpoint(best)
    training = dict(payload.get("training", {}))
    training.pop("git_commit", None)
    config = json.loads(json.dumps(run_config))
    if config.get("data", {}).get("root"):
        root = Path(config["data"]["root"])
        config["data"]["root"] = str(root.relative_to(workdir) if root.is_relative_to(workdir)
                                     else root.name)
    training["config"] = config
    keep = {k: payload[k] for k in ("format", "separator", "config", "state_dict")}
    write_torch(dest, {**keep, "training": training})


def _read_stamp(workdir: Path) -> dict[str, Any] | None:
    path = workdir / STAMP_NAME
    if not path.is_file():
        return None
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        raise AvssError("unreadable demo stamp; delete the folder by hand", path) from None
    if not isinstance(stamp, dict) or stamp.get("tool") != "avss-bench demo":
        raise AvssError("not a demo stamp; delete the folder by hand", path)
    return stamp


def claim_workdir(workdir: Path, options: dict[str, Any], force: bool) -> None:
    """Make `workdir` this demo's folder, or refuse.

    A missing or empty folder is created and stamped. A folder with our stamp is resumed when
    the options match, started over with `force`, and refused otherwise. A non-empty folder
    without our stamp is never used and never deleted.
    """
    stamp = _read_stamp(workdir)
    if stamp is None and workdir.exists() and any(workdir.iterdir()):
        raise AvssError(f"not a demo work folder (no {STAMP_NAME}) and not empty; the demo "
                        "neither writes into nor deletes it: choose another --workdir", workdir)
    if stamp is not None and stamp.get("options") != options:
        if not force:
            old = ", ".join(f"{k} {v}" for k, v in stamp.get("options", {}).items())
            raise AvssError(f"demo work folder made with other options ({old}); rerun with "
                            "those, add --force to start over, or choose another --workdir",
                            workdir)
    if force and stamp is not None:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if _read_stamp(workdir) is None:
        write_text(workdir / STAMP_NAME, json.dumps(
            {"tool": "avss-bench demo", "options": options}, indent=2) + "\n")


def run_demo(workdir: Path, seed: int = 0, landmarker: Path | None = None, force: bool = False,
             recipe: str = DEMO_RECIPE, steps: int | None = None,
             mixtures: int = DEMO_MIXTURES, quiet: bool = False,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) the demo in `workdir`; returns options, timings and the table."""
    if landmarker is not None:  # checked before minutes of corpus generation, not after
        from avss_bench.lips.landmarker import resolve_landmarker_path

        resolve_landmarker_path(landmarker, download=False)
    demo = DemoRun(Path(workdir), seed=seed, landmarker=landmarker, recipe=recipe, steps=steps,
                   mixtures=mixtures, quiet=quiet, echo=echo)
    claim_workdir(demo.workdir, demo.options(), force)
    return demo.run()
