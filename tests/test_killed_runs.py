"""Kill -9 at seeded moments of `prepare`, `score`, `evaluate`; the rerun gives the clean bytes.

Each slow test runs the real CLI in subprocesses through one helper,
:func:`killed_runs_then_rerun`: a warm-up run, a timed clean run, then runs into a second folder
each SIGKILLed (the whole process group, workers included) at a seeded moment within the work,
and a last uninterrupted rerun there, whose output tree must equal the clean one (:func:`tree`).
7 moments per command, 21 in all. Inputs are the shared miniatures (`prepare`) and one small
synthetic prepared corpus (`score`: estimates made from it; `evaluate`: a reduced tiny-av
checkpoint on it). The fast tests pin the bugs these found: temp files of killed writers left
beside the outputs, score chunks trusted without their stamp, example wavs stamped with the
time of writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from interrupt_helpers import interrupt_scoring_after
from shared_data import SHARED
from synthetic import make_prepared_corpus, make_tiny_checkpoint

from avss_bench.core.atomic import remove_dead_temp_files, temp_path

CORPUS = SHARED / "data" / "corpus"
CLI = "import sys; from avss_bench.cli import main; sys.argv[0] = 'avss-bench'; sys.exit(main())"
KILLS = 7
#: Mixtures of the synthetic corpus: 34 make three chunks for `score` (16 mixtures each) and
#: five appends of evaluate's partial CSV (16 of its 68 rows each).
MIXTURES = 34


def _drop(doc: object, dotted: str) -> None:
    """Remove the key at a dotted path (`*` matches every key at its level) from `doc`."""
    head, _, rest = dotted.partition(".")
    if not isinstance(doc, dict):
        return
    keys = list(doc) if head == "*" else [head] if head in doc else []
    for key in keys:
        if rest:
            _drop(doc[key], rest)
        else:
            del doc[key]


def tree(root: Path, volatile: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """sha256 of every file under `root`, hidden ones included (a temp file a kill left behind,
    or a stale partial, is a difference).

    No file is left out. A JSON file named in `volatile` is hashed without the listed keys
    (dotted paths), which record by design what differs between an uninterrupted run and a
    resumed one, or between two output folders: the elapsed seconds and per-stage timings, how
    much this run itself handled (`rows_scored_this_run`, `handled_here`, whether the baseline
    cache was reused), the command line and the output paths it names. Every other key of
    those files (counts, metric summaries, stamps, provenance) must match too.
    """
    hashes = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name in volatile:
            doc = json.loads(data)
            for key in volatile[path.name]:
                _drop(doc, key)
            data = json.dumps(doc, sort_keys=True).encode()
        hashes[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return hashes


def _signature(root: Path) -> frozenset:
    """The files in `root` and their sizes: changes when a run makes progress (a new chunk, a
    grown partial CSV), not when it merely rewrites a stamp with the same bytes."""
    found = set()
    # os.walk skips a folder removed while it looks (Path.rglob raises: a run removes its
    # `.partial/` folder when it finishes)
    for folder, subfolders, files in os.walk(root):
        for name in subfolders + files:
            path = os.path.join(folder, name)
            try:
                found.add((path, os.lstat(path).st_size))
            except FileNotFoundError:  # removed while we looked (a temp file renamed)
                continue
    return frozenset(found)


@dataclass
class Outcome:
    """What the kill sequence did (for the issue's note: see the test's printed line)."""

    clean_s: float  # duration of the timed clean run
    startup_s: float  # of which before its output first changed
    writing_s: float  # from then to its last change
    kills: int  # runs killed while still running
    progressed: int  # of those, killed after they had added to the output
    moments: list[str] = field(default_factory=list)  # "<s after launch><k|p|->": killed
    # before adding to the output, after it, or already finished


def killed_runs_then_rerun(argv: Callable[[Path], list[str]], tmp_path: Path, seed: str,
                           volatile: dict[str, tuple[str, ...]], kills: int = KILLS) -> Outcome:
    """Run `argv(folder)` clean and under seeded SIGKILLs; assert the rerun's tree is the clean one.

    The clean run's timeline is watched: its start-up (until its output first changed) and its
    writing window (from then to its last change). Runs alternate: one is killed a seeded
    fraction of the clean start-up after launch (before it writes, or as it starts), the next
    waits for its own first write and is killed a seeded fraction of the window later (mid-
    writing, however slow the machine's start-up). Each run resumes what the killed ones left;
    one that finishes instead must hold the clean bytes, and the sequence starts again from an
    empty folder. Runs go on until `kills` have been killed (at most 4x as many). A warm-up run
    first fills the JIT (numba) and file caches, so the timed clean run is as warm as the
    killed ones.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(argv(tmp_path / "warm-up"), check=True, env=env, capture_output=True)
    clean = tmp_path / "clean"
    start = time.monotonic()
    proc = subprocess.Popen(argv(clean), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    changes = []  # when the clean run's output changed
    last = _signature(clean)
    while proc.poll() is None:
        now = _signature(clean)
        if now != last:
            changes.append(time.monotonic() - start)
            last = now
        time.sleep(0.01)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert changes, "the clean run wrote nothing"
    startup = changes[0]
    remaining = changes[-1] - startup  # the writing window: not the start-up, not the exit
    expected = tree(clean, volatile)
    rng = random.Random(seed)
    out = tmp_path / "killed"
    outcome = Outcome(round(time.monotonic() - start, 2), round(startup, 2),
                      round(remaining, 2), 0, 0)
    for attempt in range(4 * kills):
        if outcome.kills >= kills:
            break
        before = _signature(out)
        proc = subprocess.Popen(argv(out), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        fraction = rng.uniform(0.1, 0.9)
        launched = time.monotonic()
        if attempt % 2:  # mid-writing: a fraction of the window after this run's first write
            while proc.poll() is None and _signature(out) == before:
                time.sleep(0.005)
            time.sleep(fraction * remaining)
        else:  # a fraction of the clean run's start-up: before, or as it starts writing
            time.sleep(fraction * startup)
        moment = time.monotonic() - launched
        mark = "-"
        if proc.poll() is None:
            progressed = _signature(out) != before
            os.killpg(proc.pid, signal.SIGKILL)
            outcome.kills += 1
            outcome.progressed += progressed
            mark = "p" if progressed else "k"
        proc.wait()
        if mark == "-":  # it finished what the killed runs left: the clean bytes, then anew
            assert tree(out, volatile) == expected
            shutil.rmtree(out)
        outcome.moments.append(f"{moment:.2f}{mark}")
    rerun = subprocess.run(argv(out), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    print(f"\n{seed}: {outcome}")
    assert tree(out, volatile) == expected
    assert outcome.kills >= 3, f"the runs finished before the kills: moments too late {outcome}"
    assert outcome.progressed >= 1, f"the kills fell before the runs wrote anything {outcome}"
    return outcome


# ------------------------------------------------------------------------------ the commands

def _corpus_with_estimates(root: Path, mixtures: int) -> tuple[Path, Path]:
    """A prepared corpus of `mixtures` 1-s tt mixtures and, for `score`, estimates of them
    (each target plus a third of the mixture's rest): (data folder, EST_DIR)."""
    data = make_prepared_corpus(root / "data", {"tt": mixtures}, seconds=1.0)
    manifest = data / "manifests" / "tt.csv"
    for row in pd.read_csv(manifest).itertuples():
        mix, rate = sf.read(manifest.parent / row.mix_path)
        for k in (1, 2):
            ref, _ = sf.read(manifest.parent / getattr(row, f"s{k}_path"))
            path = root / "est" / row.mixture_id / f"s{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, ref + (mix - ref) / 3, rate, subtype="FLOAT")
    return data, root / "est"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _corpus_with_estimates(tmp_path_factory.mktemp("killed"), MIXTURES)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _corpus_with_estimates(tmp_path_factory.mktemp("small"), 3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.mark.slow
def test_prepare_killed_at_seeded_moments_then_rerun_is_byte_identical(tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return [sys.executable, "-c", CLI, "prepare", "lrs3", "--root", str(CORPUS / "lrs3"),
                "--out", str(out), "--mix-list", str(CORPUS / "lrs3"), "--splits", "tr,tt",
                "--skip-lips", "--quiet"]

    killed_runs_then_rerun(argv, tmp_path, "prepare-17", {
        "report.json": ("out", "timings_s", "counts.*.handled_here")})


@pytest.mark.slow
def test_score_killed_at_seeded_moments_then_rerun_is_byte_identical(
        split: tuple[Path, Path], tmp_path: Path) -> None:
    data, estimates = split

    def argv(folder: Path) -> list[str]:  # the baseline cache goes to folder/.baselines
        return [sys.executable, "-c", CLI, "score", "--manifest",
                str(data / "manifests" / "tt.csv"), "--estimates", str(estimates),
                "--out", str(folder / "results"), "--quiet"]

    killed_runs_then_rerun(argv, tmp_path, "score-17", {
        "summary.json": ("seconds", "command", "rows_scored_this_run", "baselines.cache",
                         "baselines.reused")})


@pytest.mark.slow
def test_evaluate_killed_at_seeded_moments_then_rerun_is_byte_identical(
        split: tuple[Path, Path], checkpoint: Path, tmp_path: Path) -> None:
    data, _ = split

    def argv(out: Path) -> list[str]:
        return [sys.executable, "-c", CLI, "evaluate", "--checkpoint", str(checkpoint),
                "--data", str(data), "--out", str(out), "--metrics", "si_snr,sdr,stoi",
                "--save-audio", "3", "--device", "cpu", "--quiet"]

    killed_runs_then_rerun(argv, tmp_path, "evaluate-17", {
        "summary.json": ("seconds", "command")})


# ------------------------------------------------ what the kills found, pinned by fast tests

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp_of(path: Path, pid: int) -> Path:
    """The temp file `core.atomic` writes `path` through, as process `pid` of this host."""
    name = temp_path(path).name
    return path.with_name(f"{name[:name.rindex('-')]}-{pid}")


def test_temp_files_of_dead_writers_go_those_of_live_or_other_hosts_stay(tmp_path: Path) -> None:
    dead = _temp_of(tmp_path / "results.csv", _dead_pid())
    live = temp_path(tmp_path / "summary.json")  # ours: alive
    foreign = tmp_path / ".results.csv.tmpotherhost-1"
    unlisted = _temp_of(tmp_path / "notes.txt", _dead_pid())
    for path in (dead, live, foreign, unlisted):
        path.write_text("partial")
    assert remove_dead_temp_files(tmp_path, ("results.csv", "summary.json")) == 1
    assert not dead.exists() and live.exists() and foreign.exists() and unlisted.exists()
    assert remove_dead_temp_files(tmp_path) == 1 and not unlisted.exists()


def test_evaluate_rerun_removes_killed_temp_files_and_rewrites_examples_bytewise(
        small: tuple[Path, Path], checkpoint: Path, tmp_path: Path) -> None:
    from avss_bench.evaluate.run import evaluate
    from avss_bench.io.audio import float_wav_bytes

    data, _ = small
    out = tmp_path / "out"
    evaluate(None, checkpoint, data, out_dir=out, metrics=("si_snr",), save_audio=2, quiet=True)
    first = tree(out, {"summary.json": ("seconds", "command")})
    left = [_temp_of(out / "summary.json", _dead_pid()),
            _temp_of(out / "evaluate.stamp.json", _dead_pid()),
            _temp_of(out / "examples" / "tt000_s1.wav", _dead_pid())]
    for path in left:
        path.write_bytes(b"torn")
    evaluate(None, checkpoint, data, out_dir=out, metrics=("si_snr",), save_audio=2, quiet=True)
    assert not any(path.exists() for path in left)
    assert tree(out, {"summary.json": ("seconds", "command")}) == first
    example = (out / "examples" / "tt000_s1.wav").read_bytes()
    samples, rate = sf.read(out / "examples" / "tt000_s1.wav", dtype="float32")
    assert sf.info(out / "examples" / "tt000_s1.wav").subtype == "FLOAT"
    assert example == float_wav_bytes(samples, rate) and b"PEAK" not in example


def test_score_never_trusts_chunks_without_their_stamp(small: tuple[Path, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from avss_bench.evaluate import scoring as split_mod

    data, estimates = small
    manifest = data / "manifests" / "tt.csv"
    kwargs = {"metrics": ("si_snr",), "quiet": True, "chunk_size": 1}
    split_mod.score_split(manifest, estimates, tmp_path / "clean" / "results", **kwargs)
    out = tmp_path / "killed" / "results"
    interrupt_scoring_after(monkeypatch, 2,
                            lambda: split_mod.score_split(manifest, estimates, out, **kwargs))
    # chunks without the stamp they were written under (here: made wrong on purpose) are of
    # no known run and must be redone
    (out / "score.stamp.json").unlink()
    part = sorted((out / ".partial").glob("part-*.csv"))[0]
    part.write_text(part.read_text().replace("tt000,s1,", "tt000,s1,99"))
    left = [_temp_of(out / "results.csv", _dead_pid()),
            _temp_of(tmp_path / "killed" / ".baselines" / "key.csv", _dead_pid())]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("torn")
    split_mod.score_split(manifest, estimates, out, **kwargs)
    assert not any(path.exists() for path in left)
    assert (out / "results.csv").read_bytes() == (
        tmp_path / "clean" / "results" / "results.csv").read_bytes()
