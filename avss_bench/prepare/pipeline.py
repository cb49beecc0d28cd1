"""`prepare_corpus`: a raw corpus -> the standard 2-speaker benchmark (mixtures, lips, manifests).

Stages (each resumable, each output written to a temp file and renamed):

1. **index + lists**: find the corpus (`avss_bench.corpora.<name>`), read the mixture lists
   (`official`: downloaded once from CTCNet's repository with a pinned sha256 and cached;
   a folder holding `mix_2_spk_{tr,cv,tt}.scp`; or `generate`d with a seed by the official
   law) and map every listed path to a corpus utterance. The lists used are copied to
   `OUT/lists/`. A split without an official or given list (LRS3/Vox2 `tr`) is generated.
2. **sources**: the first 2.0 s of each needed utterance at 16 kHz mono
   (`OUT/raw_audio/<utt>.wav`, the recipe's raw_audio) and its P.56 level on the 8 kHz copy.
3. **lips**: the mouth ROIs of the same 2.0 s (`OUT/lips/<utt>.npz`, `data = uint8 [F, 96, 96]`,
   `F = round(samples * 25 / 16000)` frames at 25 fps; one frame fewer is accepted when the
   video ends first). One file per utterance serves all its mixtures: a mixture 'min'-cut
   shorter than it gets its first frames when loaded (`avss_bench.data.lengths`).
4. **mix**: `OUT/wav16k/min/{tr,cv,tt}/{mix,s1,s2}/<name>.wav`, as `avss_bench.prepare.mixing`.
5. **manifests + report**: `OUT/manifests/{tr,cv,tt}.csv`, beside each its test-set record
   `<split>.testset.json` (fingerprint of the mixtures written, what the list is, its label:
   `prepare.testset`), and `OUT/report.json` with the data-sanity findings (`prepare.sanity`:
   same-recording or silent sources, empty splits are errors; duplicated mixtures and speakers
   in two splits are warnings). Errors leave every output written; the CLI exits non-zero.

Bad items never stop the run. An utterance that is missing from the corpus, undecodable,
truncated, digitally silent, shorter than `min_source_seconds`, or (lips) shows no face, is
skipped with its reason, and every mixture that needs it is dropped and reported. A source
shorter than 2 s is kept by default, as in the original recipe: its mixtures are 'min'-truncated
to its length (the report lists it under `warnings`).

Resume: a rerun skips every item whose output and status record exist (the record is written
after the output's rename, so its presence proves the output is complete), and writes the same
bytes as one clean run (WAVs and manifests are deterministic; the npz files are written with a
fixed zip timestamp). `report.json` alone differs (timings).

Shards: `shard=(i, n)` prepares a disjoint part (mixtures and lip ROIs by a stable hash of their
ids; each shard also extracts the 2 s sources its mixtures need) into the same OUT (a shared
file system, or copy the shards' OUTs together), and `merge=True` then checks that every part
is complete and writes the manifests and the report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avss_bench.core.errors import AvssError
from avss_bench.core.executor import Executor, LocalExecutor, chunks, closing_executor
from avss_bench.corpora.base import Corpus, Utterance
from avss_bench.corpora.registry import corpora, get_corpus
from avss_bench.io.manifest import SPLITS, canonical_split
from avss_bench.io.testset import TestSet, write_test_set
from avss_bench.lips.store import resolve_store
from avss_bench.prepare.conditions import Conditions
from avss_bench.prepare.config import SEGMENT_SECONDS, PrepareConfig, load_prepare_config  # noqa: F401
from avss_bench.prepare.lip_rois import lips_batch, lips_done
from avss_bench.prepare.lists import SplitList, resolve_lists, store_lists
from avss_bench.prepare.manifests import remove_strays, write_split_manifest
from avss_bench.prepare.mixlist import MixLine
from avss_bench.prepare.mixtures import MixJob, make_job, mix_batch, mixture_done
from avss_bench.prepare.records import (
    Layout,
    PrepareState,
    claim_out,
    remove_stale_temp_files,
    shard_owner,
    write_json_record,
)
from avss_bench.prepare.report import build_report
from avss_bench.prepare.sanity import check_prepared, summarize
from avss_bench.prepare.sources import source_batch, source_done
from avss_bench.prepare.testset import split_test_set


def parse_shard(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """`"i/n"` (0 <= i < n) -> (i, n)."""
    if text is None:
        return None
    if isinstance(text, str):
        try:
            i_text, n_text = text.split("/")
            i, n = int(i_text), int(n_text)
        except ValueError:
            raise AvssError(f"--shard must be i/n with 0 <= i < n, got '{text}'") from None
    else:
        i, n = (int(v) for v in text)
    if n < 1 or not 0 <= i < n:
        raise AvssError(f"--shard must be i/n with 0 <= i < n, got {i}/{n}")
    return i, n


@closing_executor
def prepare_corpus(corpus: str, root: str | Path, out: str | Path,
                   mix_list: str | Path = "official",
                   splits: Sequence[str] = SPLITS, jobs: int = 1,
                   shard: str | tuple[int, int] | None = None,
                   landmarker: str | Path | None = None, seed: int = 0,
                   num_mixtures: Mapping[str, int] | None = None, quiet: bool = False, *,
                   merge: bool = False, skip_lips: bool = False,
                   min_source_seconds: float = 0.0,
                   segment_seconds: float = SEGMENT_SECONDS,
                   executor: str | Executor | None = None,
                   conditions: Conditions | None = None,
                   corpus_options: Mapping[str, object] | None = None,
                   lips_store: str | Path | None = None,
                   dataset_name: str | None = None) -> dict:
    """Prepare the 2-speaker benchmark of a raw corpus (see the module docstring).

    Args:
        corpus: a registered corpus name (`lrs2`, `lrs3`, `vox2`, or a plugin's).
        root: the raw corpus in its real on-disk layout.
        out: the output folder (created; reruns resume in it).
        mix_list: `"official"`, `"generate"`, or a folder with `mix_2_spk_{split}.scp`.
        splits: which of tr, cv, tt to prepare (train/valid/test accepted).
        jobs: worker processes (joblib) for every stage.
        shard: `"i/n"` or `(i, n)`: prepare only this disjoint part (then `merge=True`).
        landmarker: MediaPipe `face_landmarker.task` (None: resolved by `avss_bench.lips`).
        seed: seed of generated lists.
        num_mixtures: per split, the size of a generated list, or the first N lines of a
            given one.
        quiet: no progress bars.
        merge: join the parts prepared by shards (computes nothing; fails if a part is missing).
        skip_lips: do not extract mouth ROIs (the manifests' `s*_lips` columns stay empty).
        min_source_seconds: skip sources shorter than this (0: keep them, as the recipe).
        segment_seconds: source length taken from the start of each utterance.
        conditions: robustness conditions (N speakers, noise, reverberation, absent target;
            `avss_bench.prepare.conditions`); None: the clean 2-speaker benchmark.
        executor: where the batch tasks run: `local` (None; `jobs` processes), `dask-local:N`,
            `dask://HOST:PORT`, `slurm[:k=v,...]` or an `Executor` (`avss_bench.core.executor`).
        corpus_options: keywords for the corpus class (its `options`, e.g. AVSpeech's `csv`).
        lips_store: the mouth-ROI store folder (`avss_bench.lips.store`: crops extracted once
            and reused by every corpus prepared from the same clips); None: the default
            (`$AVSS_BENCH_LIPS_STORE`, else the cache's `lips/`); `"off"`: none.
        dataset_name: what test-set labels and records call the data instead of the corpus
            (the demo corpus, prepared in the LRS2 layout, is ``demo``).

    Returns:
        the report (also written to `OUT/report.json`, or to `OUT/shards/` for a shard).
    """
    t_start = time.perf_counter()
    run = _start_run(corpus, root, out, splits, jobs, shard, merge, landmarker, corpus_options)
    store = resolve_store(lips_store)
    run.lips_store = None if store is None else str(store.root)
    claim_out(run.layout, {
        "corpus": run.corp.name, "segment_seconds": segment_seconds,
        "min_source_seconds": min_source_seconds,
        "conditions": (conditions or Conditions()).options(),
        "corpus_options": {k: str(v) for k, v in (corpus_options or {}).items()}})
    run.executor = executor
    lists, needed = _index_lists(run, mix_list, seed, num_mixtures, conditions)
    my_lines = {split: [line for line in item.lines
                        if run.owns(f"{split}:{line.index}")]
                for split, item in lists.items()}
    audio_utts = {u for lines in my_lines.values() for line in lines for u in line.all_utts}
    if not skip_lips:
        audio_utts |= {u for u in needed if run.owns_lips(u)}
    audio_todo = [run.state.located[u] for u in sorted(audio_utts)
                  if run.state.located[u] is not None]
    _extract_sources(run, audio_todo, segment_seconds, min_source_seconds, quiet)
    if not skip_lips:
        _extract_lips(run, audio_todo, needed, quiet)
    else:
        run.state.timings["lips"] = 0.0
    kept, problems = _mix(run, my_lines, skip_lips, quiet)
    if run.missing_work:
        raise AvssError("cannot merge: the shards have not finished "
                        + "; ".join(run.missing_work) + " — rerun the shards that own them",
                        run.layout.out)
    report = build_report(run.corp, run.layout, lists, run.state, kept, problems, dict(
        mix_list=str(mix_list), splits=run.splits, seed=seed,
        num_mixtures=dict(num_mixtures or {}), skip_lips=skip_lips,
        min_source_seconds=min_source_seconds, segment_seconds=segment_seconds, jobs=run.jobs,
        executor=run.executor.name,
        shard=None if run.shard is None else f"{run.shard[0]}/{run.shard[1]}", merge=merge,
        landmarker=run.landmarker, conditions=(conditions or Conditions()).options()))
    if corpus_options:
        report["options"]["corpus_options"] = {k: str(v) for k, v in corpus_options.items()}
    corpus_summary = getattr(run.corp, "summary", lambda: None)()
    if corpus_summary is not None:
        report["corpus"] = corpus_summary
    if run.shard is None:
        conditions = conditions or Conditions()
        test_sets = {split: split_test_set(run.corp, lists[split],
                                           [line for line, _ in kept[split]], conditions, seed,
                                           segment_seconds, dataset_name)
                     for split in run.splits}
        report["test_sets"] = {split: ts.to_json() for split, ts in test_sets.items()}
        report["sanity"] = summarize(check_prepared(run.layout, kept, run.state.located,
                                                    run.splits))
    else:
        test_sets = {}
    _write_outputs(run, kept, skip_lips, report, t_start, test_sets)
    return report


@dataclass
class _Run:
    """One `prepare_corpus` call: its corpus, output layout, sharding and accumulated state."""

    corp: Corpus
    layout: Layout
    splits: list[str]
    jobs: int
    shard: tuple[int, int] | None
    merge: bool
    landmarker: str | None
    state: PrepareState = field(default_factory=PrepareState)
    executor: Executor = field(default_factory=LocalExecutor)
    missing_work: list[str] = field(default_factory=list)
    lips_store: str | None = None

    def owns(self, key: str) -> bool:
        """Whether this shard owns the item `key` (always, without sharding)."""
        return self.shard is None or shard_owner(key, self.shard[1]) == self.shard[0]

    def owns_lips(self, utt: str) -> bool:
        return self.owns(utt)

    @property
    def root(self) -> str:
        return str(self.corp.root)

    @property
    def out(self) -> str:
        return str(self.layout.out)


def _start_run(corpus: str, root: str | Path, out: str | Path, splits: Sequence[str],
               jobs: int, shard: str | tuple[int, int] | None, merge: bool,
               landmarker: str | Path | None,
               corpus_options: Mapping[str, object] | None = None) -> _Run:
    """Check the options, find the corpus, create OUT and clear temp files of killed runs."""
    splits = [canonical_split(s) for s in splits]
    if len(set(splits)) != len(splits) or not splits:
        raise AvssError(f"--splits must name distinct splits among tr, cv, tt, got {splits}")
    shard_ = parse_shard(shard)
    if merge and shard_ is not None:
        raise AvssError("--merge joins the shards' parts: give it without --shard")
    layout = Layout(out)
    layout.out.mkdir(parents=True, exist_ok=True)
    if shard_ is None:
        remove_stale_temp_files(layout.out)
    corp = (get_corpus(corpus, root) if not corpus_options
            else corpora.get(corpus)(root, **corpus_options))
    return _Run(corp, layout, splits, max(1, int(jobs)), shard_, merge,
                None if landmarker is None else str(landmarker))


def _index_lists(run: _Run, mix_list: str | Path, seed: int,
                 num_mixtures: Mapping[str, int] | None, conditions: Conditions | None = None
                 ) -> tuple[dict[str, SplitList], list[str]]:
    """Stage 1: the lists, stored under OUT/lists, and every utterance they name, located."""
    t0 = time.perf_counter()
    lists = resolve_lists(run.corp, mix_list, run.splits, seed, num_mixtures, conditions)
    store_lists(lists, run.layout)
    needed = sorted({u for item in lists.values() for line in item.lines
                     for u in line.all_utts})
    for utt in needed:
        run.state.located[utt] = run.corp.locate(utt)
    run.state.timings["index_lists"] = time.perf_counter() - t0
    return lists, needed


def _extract_sources(run: _Run, audio_todo: Sequence[Utterance], segment_seconds: float,
                     min_source_seconds: float, quiet: bool) -> None:
    """Stage 2: the 2 s sources not yet on disk (reads back the records of the others)."""
    t0 = time.perf_counter()
    todo = []
    for u in audio_todo:
        record = source_done(run.layout, u.utt)
        if record is None:
            todo.append(u)
        else:
            run.state.audio[u.utt] = record
    if todo and run.merge:
        run.missing_work.append(f"{len(todo)} sources (e.g. {todo[0].utt})")
    elif todo:
        for records in run.executor.map_batches(
                source_batch, chunks(todo, 32),
                ((run.root,), (run.out, segment_seconds, min_source_seconds)), "sources", quiet):
            for record in records:
                run.state.audio[record["utt"]] = record
    run.state.timings["sources"] = time.perf_counter() - t0


def _extract_lips(run: _Run, audio_todo: Sequence[Utterance], needed: Sequence[str],
                  quiet: bool) -> None:
    """Stage 3: the lip ROIs this shard owns and that are not yet on disk."""
    t0 = time.perf_counter()
    state = run.state
    todo_lips = []
    for u in audio_todo:
        if not run.owns_lips(u.utt) or not state.audio.get(u.utt, {}).get("ok"):
            continue
        record = lips_done(run.layout, u.utt)
        if record is None:
            todo_lips.append((u, state.audio[u.utt]["num_samples"]))
        else:
            state.lips[u.utt] = record
    if todo_lips and run.merge:
        run.missing_work.append(f"{len(todo_lips)} lip ROIs (e.g. {todo_lips[0][0].utt})")
    elif todo_lips:
        size = max(1, min(16, math.ceil(len(todo_lips) / run.executor.workers)))
        args = ((run.root,), (run.out, run.landmarker, run.lips_store))
        for records in run.executor.map_batches(lips_batch, chunks(todo_lips, size), args,
                                                "lips", quiet):
            for record in records:
                state.lips[record["utt"]] = record
    if run.shard is None:  # utterances whose lips a shard-mate owns are read back at merge
        for u in needed:
            if u not in state.lips and state.audio.get(u, {}).get("ok"):
                record = lips_done(run.layout, u)
                if record is not None:
                    state.lips[u] = record
    state.timings["lips"] = time.perf_counter() - t0


def _mix(run: _Run, my_lines: Mapping[str, list[MixLine]], skip_lips: bool, quiet: bool
         ) -> tuple[dict[str, list[tuple[MixLine, MixJob]]], dict[str, list[dict]]]:
    """Stage 4: decide which listed mixtures can be made, and make those not yet on disk.

    Returns the kept (line, job) pairs and the dropped lines with reasons, per split.
    """
    t0 = time.perf_counter()
    problems: dict[str, list[dict]] = {}
    kept: dict[str, list[tuple[MixLine, MixJob]]] = {}
    to_mix: list[MixJob] = []
    for split, lines in my_lines.items():
        seen: dict[str, int] = {}
        kept[split] = []
        for line in lines:
            reason = _drop_reason(line, run.state, skip_lips or run.shard is not None)
            name = line.name
            if reason is None and name in seen:
                reason = f"duplicate output name (same as line {seen[name]})"
            if reason is not None:
                problems.setdefault(split, []).append(
                    {"split": split, "line": line.index, "name": name, "reason": reason})
                continue
            seen[name] = line.index
            job = make_job(split, line, run.state.audio)
            kept[split].append((line, job))
            if not mixture_done(run.layout, job):
                to_mix.append(job)
    if to_mix and run.merge:
        run.missing_work.append(
            f"{len(to_mix)} mixtures (e.g. {to_mix[0].split}/{to_mix[0].name})")
    elif to_mix:
        run.executor.map_batches(mix_batch, chunks(to_mix, 64), ((run.out,), ()), "mix", quiet)
    run.state.timings["mix"] = time.perf_counter() - t0
    return kept, problems


def _write_outputs(run: _Run, kept: Mapping[str, list[tuple[MixLine, MixJob]]],
                   skip_lips: bool, report: dict, t_start: float,
                   test_sets: Mapping[str, TestSet]) -> None:
    """Stage 5: manifests and their test-set records (not for a single shard: merge writes
    them) and the report."""
    t0 = time.perf_counter()
    if run.shard is None:
        for split in run.splits:
            write_split_manifest(run.corp, run.layout, split, kept[split], run.state, skip_lips)
            write_test_set(run.layout.manifest(split), test_sets[split])
        remove_strays(run.layout, run.splits, kept)
        remove_stale_temp_files(run.layout.out)  # of workers killed mid-write (retried)
    run.state.timings["manifests"] = time.perf_counter() - t0
    run.state.timings["total"] = time.perf_counter() - t_start
    report["timings_s"] = {k: round(v, 3) for k, v in run.state.timings.items()}
    if run.shard is None:
        write_json_record(run.layout.report, report)
    else:
        write_json_record(
            run.layout.out / "shards" / f"report-{run.shard[0]}-of-{run.shard[1]}.json", report)


def _drop_reason(line: MixLine, state: PrepareState, lips_optional: bool) -> str | None:
    """Why a mixture cannot be made (None when it can)."""
    for k, utt in enumerate(line.all_utts, start=1):  # the last is the absent face, if any
        if state.located.get(utt) is None:
            return f"s{k} {utt}: not found in the corpus"
        audio = state.audio.get(utt)
        if audio is None:
            return f"s{k} {utt}: source not extracted"
        if not audio.get("ok"):
            return f"s{k} {utt}: {audio['reason']}"
        if not lips_optional:
            lips = state.lips.get(utt)
            if lips is None:
                return f"s{k} {utt}: lip ROIs not extracted"
            if not lips.get("ok"):
                return f"s{k} {utt}: {lips['reason']}"
    return None


