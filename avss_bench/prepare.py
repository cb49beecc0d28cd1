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
   video ends first).
4. **mix**: `OUT/wav16k/min/{tr,cv,tt}/{mix,s1,s2}/<name>.wav`, exactly as `avss_bench.mixing`.
5. **manifests + report**: `OUT/manifests/{tr,cv,tt}.csv`, `OUT/report.json`.

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

import hashlib
import json
import math
import os
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avss_bench import __version__
from avss_bench.audio import temp_path
from avss_bench.corpora.base import Corpus, Utterance
from avss_bench.corpora.registry import get_corpus
from avss_bench.errors import AvssError
from avss_bench.manifest import SPLITS, canonical_split, write_manifest
from avss_bench.mixlist import MixLine, format_mix_list, generate_mix_list, parse_mix_list

SAMPLE_RATE = 16000
FPS = 25
SEGMENT_SECONDS = 2.0
#: extra frames given to the lip tracker past the segment, so the 12-frame smoothing window of
#: the last kept frames sees the real future frames (as when the whole clip is processed)
LIP_LOOKAHEAD = 11
STATUS = ".status"
ENV_CACHE = "AVSS_BENCH_CACHE"
LIST_NAME = "mix_2_spk_{split}.scp"


# --------------------------------------------------------------------------------------------
# settings: recipes/<corpus>/prepare.yaml
# --------------------------------------------------------------------------------------------
@dataclass
class PrepareConfig:
    """Corpus preparation settings (`recipes/<corpus>/prepare.yaml`); CLI options override."""

    mix_list: str = "official"
    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    seed: int = 0
    num_mixtures: dict[str, int] | None = None
    segment_seconds: float = SEGMENT_SECONDS
    min_source_seconds: float = 0.0
    lips: bool = True


def load_prepare_config(corpus: str, recipe: str | Path | None = None) -> PrepareConfig:
    """Read `recipe`, else the bundled `recipes/<corpus>/prepare.yaml`, else the defaults."""
    import dataclasses
    from importlib import resources

    import yaml

    if recipe is None:
        bundled = resources.files("avss_bench.recipes").joinpath(f"{corpus}/prepare.yaml")
        if not bundled.is_file():
            return PrepareConfig()
        text, source = bundled.read_text(), f"recipes/{corpus}/prepare.yaml"
    else:
        path = Path(recipe)
        if not path.is_file():
            raise AvssError("preparation recipe not found", path)
        text, source = path.read_text(), str(path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise AvssError(f"invalid YAML: {err}", source) from err
    if not isinstance(raw, dict):
        raise AvssError("a preparation recipe must be a mapping", source)
    names = {f.name for f in dataclasses.fields(PrepareConfig)}
    config = PrepareConfig()
    for key, value in raw.items():
        if key == "corpus":
            if value != corpus:
                raise AvssError(f"recipe is for corpus '{value}', not '{corpus}'", source)
            continue
        if key not in names:
            raise AvssError(f"unknown key '{key}' (known: corpus, {', '.join(sorted(names))})",
                            source)
        setattr(config, key, value)
    return config


# --------------------------------------------------------------------------------------------
# small helpers: hashing, atomic writes, status records
# --------------------------------------------------------------------------------------------
def _owner(key: str, n: int) -> int:
    """The shard (0..n-1) that owns an item: a stable hash, identical on every machine."""
    return zlib.crc32(key.encode("utf-8")) % n


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_write_json(path: Path, obj: object) -> None:
    _atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def save_lips(path: str | Path, rois: np.ndarray) -> None:
    """Write `np.load(path)["data"] == rois` like `np.savez_compressed(path, data=rois)`,
    atomically and byte-reproducibly (fixed zip timestamp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    info = zipfile.ZipInfo("data.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(rois), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reason(err: AvssError) -> str:
    """An AvssError's message without the file name (the report names the item itself)."""
    text = str(err)
    if err.path is not None and text.startswith(f"{err.path}: "):
        text = text[len(f"{err.path}: "):]
    return text


class Layout:
    """Where everything lives under OUT."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    def raw(self, utt: str) -> Path:
        return self.out / "raw_audio" / f"{utt}.wav"

    def lips(self, utt: str) -> Path:
        return self.out / "lips" / f"{utt}.npz"

    def wav(self, split: str, kind: str, name: str) -> Path:
        return self.out / "wav16k" / "min" / split / kind / f"{name}.wav"

    def status(self, stage: str, utt: str) -> Path:
        return self.out / STATUS / stage / f"{utt}.json"

    def list_file(self, split: str) -> Path:
        return self.out / "lists" / LIST_NAME.format(split=split)

    def manifest(self, split: str) -> Path:
        return self.out / "manifests" / f"{split}.csv"

    @property
    def report(self) -> Path:
        return self.out / "report.json"


def remove_stale_temp_files(out: Path) -> int:
    """Delete the temp files a killed run left behind (`.<name>.tmp<pid>`); returns how many.

    Only safe while no other process writes into OUT: a plain run or a merge, never a shard.
    """
    removed = 0
    for folder, _, files in os.walk(out):
        for name in files:
            if name.startswith(".") and ".tmp" in name:
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# stage 1: lists
# --------------------------------------------------------------------------------------------
@dataclass
class SplitList:
    """The mixture list of one split and where it came from."""

    split: str
    lines: list[MixLine]
    origin: str  # official | file | generated
    source: str  # url, path, or "seed=<seed>"
    text: str = ""

    @property
    def sha256(self) -> str:
        return _sha256(self.text.encode())


def cache_dir() -> Path:
    """`$AVSS_BENCH_CACHE`, else `$XDG_CACHE_HOME/avss-bench` (`~/.cache/avss-bench`)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "avss-bench"


def fetch_official_list(corpus: Corpus, split: str, cache: Path | None = None,
                        timeout: float = 60.0) -> tuple[str, str]:
    """The text of an official list: from the cache when its sha256 matches, else downloaded
    from the pinned address, checked, and cached. Returns (text, url)."""
    entry = corpus.official_lists[split]
    cached = (cache or cache_dir()) / "mixlists" / corpus.name / LIST_NAME.format(split=split)
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == entry.sha256:
            return data.decode("utf-8"), entry.url
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as response:  # noqa: S310
            data = response.read()
    except OSError as err:
        raise AvssError(f"cannot download the official {corpus.name} {split} list from "
                        f"{entry.url} ({err}); download it yourself and pass --mix-list DIR "
                        f"(or put it at {cached})") from err
    got = _sha256(data)
    if got != entry.sha256:
        raise AvssError(f"the official {corpus.name} {split} list from {entry.url} has sha256 "
                        f"{got}, expected {entry.sha256}; refusing it")
    _atomic_write_bytes(cached, data)
    return data.decode("utf-8"), entry.url


def speaker_of(corpus: Corpus, utt: str) -> str:
    located = corpus.locate(utt)
    return located.speaker if located is not None else utt


def resolve_lists(corpus: Corpus, mix_list: str | Path, splits: Sequence[str],
                  seed: int, num_mixtures: Mapping[str, int] | None) -> dict[str, SplitList]:
    """Read or generate the list of every split (see `prepare_corpus`)."""
    num_mixtures = dict(num_mixtures or {})
    regex = corpus.utt_regex
    given: dict[str, SplitList] = {}
    generate: list[str] = []
    mode = str(mix_list)
    folder: Path | None = None
    if mode not in ("official", "generate"):
        folder = Path(mix_list).expanduser()
        if not folder.is_dir():
            raise AvssError("--mix-list must be 'official', 'generate' or a folder holding "
                            "mix_2_spk_{tr,cv,tt}.scp", folder)
    for split in splits:
        if mode == "generate":
            generate.append(split)
        elif mode == "official":
            if split in corpus.official_lists:
                text, url = fetch_official_list(corpus, split)
                given[split] = SplitList(split, parse_mix_list(url, regex, text=text),
                                         "official", url, text)
            else:
                generate.append(split)
        else:
            assert folder is not None
            path = folder / LIST_NAME.format(split=split)
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                given[split] = SplitList(split, parse_mix_list(path, regex, text=text),
                                         "file", str(path), text)
            else:
                generate.append(split)
    for split, item in given.items():
        if split in num_mixtures:  # a quick run on the first N lines of a list
            item.lines = item.lines[:num_mixtures[split]]
            item.text = format_mix_list(item.lines)
    if generate:
        fixed = {split: {speaker_of(corpus, u) for line in item.lines
                         for u in (line.s1_utt, line.s2_utt)}
                 for split, item in given.items()}
        pools = corpus.pools(generate, fixed, seed)
        for split in generate:
            size = num_mixtures.get(split, corpus.default_sizes[split])
            pool = [(u.utt, u.speaker) for u in pools.get(split, [])]
            try:
                lines = generate_mix_list(pool, size, seed=f"{corpus.name}:{split}:{seed}",
                                          path_format=corpus.list_path_format[split])
            except AvssError as err:
                raise AvssError(f"cannot generate the {split} list of {corpus.name}: {err} "
                                "(set a smaller --num-mixtures)", corpus.root) from None
            given[split] = SplitList(split, lines, "generated", f"seed={seed}",
                                     format_mix_list(lines))
    return {split: given[split] for split in splits}


def _store_lists(lists: Mapping[str, SplitList], layout: Layout) -> None:
    """Copy the lists used to OUT/lists; refuse an OUT prepared from different lists."""
    for split, item in lists.items():
        path = layout.list_file(split)
        if path.is_file():
            if path.read_bytes() != item.text.encode():
                raise AvssError(f"{layout.out} was prepared with a different {split} list "
                                f"({path}); use a fresh --out or delete it", path)
        else:
            _atomic_write_bytes(path, item.text.encode())


# --------------------------------------------------------------------------------------------
# stage 2: sources
# --------------------------------------------------------------------------------------------
def extract_source(root: str, utt: Utterance, out: str, segment: float,
                   min_seconds: float) -> dict:
    """Decode, measure and store one utterance's 2 s source; returns its status record."""
    from avss_bench.audio import decode_audio, write_wav
    from avss_bench.mixing import level_8k

    layout = Layout(out)
    record: dict = {"utt": utt.utt, "media": utt.audio}
    try:
        x = decode_audio(Path(root) / utt.audio, seconds=segment)
    except AvssError as err:
        record.update(ok=False, reason=_reason(err))
    else:
        level = level_8k(x)
        samples = int(x.size)
        if not level.power > 0:
            record.update(ok=False, reason="silent audio (P.56 active level is 0: digital "
                                           "silence)")
        elif samples < min_seconds * SAMPLE_RATE:
            record.update(ok=False, reason=f"too short: {samples / SAMPLE_RATE:.3f} s of audio "
                                           f"< {min_seconds:g} s")
        else:
            write_wav(layout.raw(utt.utt), np.round(x * 32768).astype(np.int16))
            record.update(ok=True, num_samples=samples, level=level.power,
                          short=samples < round(segment * SAMPLE_RATE))
    _atomic_write_json(layout.status("audio", utt.utt), record)
    return record


def _source_done(layout: Layout, utt: str) -> dict | None:
    record = _read_status(layout.status("audio", utt))
    if record is None:
        return None
    if record.get("ok"):
        raw = layout.raw(utt)
        if not raw.is_file() or raw.stat().st_size != 44 + 2 * record["num_samples"]:
            return None
    return record


def _source_batch(root: str, utts: Sequence[Utterance], out: str, segment: float,
                  min_seconds: float) -> list[dict]:
    return [extract_source(root, u, out, segment, min_seconds) for u in utts]


# --------------------------------------------------------------------------------------------
# stage 3: lips
# --------------------------------------------------------------------------------------------
def lip_frames_for(num_samples: int) -> int:
    """Video frames (25 fps) covering `num_samples` of 16 kHz audio: round(T * 25 / 16000)."""
    return max(1, int(math.floor(num_samples * FPS / SAMPLE_RATE + 0.5)))


def _lips_batch(root: str, items: Sequence[tuple[Utterance, int]], out: str,
                landmarker: str | None) -> list[dict]:
    """Extract and store the mouth ROIs of several utterances with one landmarker."""
    from avss_bench.lips import MouthRoiExtractor
    from avss_bench.video import read_frames_25fps

    layout = Layout(out)
    records = []
    with MouthRoiExtractor(landmarker) as extractor:
        for utt, samples in items:
            need = lip_frames_for(samples)
            record: dict = {"utt": utt.utt, "media": utt.video}
            path = Path(root) / utt.video
            try:
                frames, fps = read_frames_25fps(path)
                if frames.shape[0] < need - 1:
                    raise AvssError(f"video too short: {frames.shape[0]} frames, its "
                                    f"{samples / SAMPLE_RATE:.3f} s of audio need {need}", path)
                rois = extractor.extract_frames(frames[:need + LIP_LOOKAHEAD], fps, source=path)
            except AvssError as err:
                record.update(ok=False, reason=_reason(err))
            else:
                rois = np.ascontiguousarray(rois[:need], dtype=np.uint8)
                save_lips(layout.lips(utt.utt), rois)
                record.update(ok=True, frames=int(rois.shape[0]))
            _atomic_write_json(layout.status("lips", utt.utt), record)
            records.append(record)
    return records


def _lips_done(layout: Layout, utt: str) -> dict | None:
    record = _read_status(layout.status("lips", utt))
    if record is None:
        return None
    if record.get("ok") and not layout.lips(utt).is_file():
        return None
    return record


# --------------------------------------------------------------------------------------------
# stage 4: mixing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MixJob:
    split: str
    name: str
    s1_utt: str
    gain1: float
    s2_utt: str
    gain2: float
    num_samples: int  # expected: min of the two sources
    level1: float  # activlev powers of the full sources (8 kHz copies), from the sources stage
    level2: float


def _mixture_done(layout: Layout, job: MixJob) -> bool:
    size = 44 + 2 * job.num_samples
    for kind in ("s1", "s2", "mix"):
        path = layout.wav(job.split, kind, job.name)
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def _mix_batch(out: str, jobs: Sequence[MixJob]) -> int:
    """Mix and write several mixtures; returns how many were written."""
    from avss_bench.audio import read_wav, write_wav
    from avss_bench.mixing import mix_pair

    layout = Layout(out)
    cache: dict[str, np.ndarray] = {}

    def source(utt: str) -> np.ndarray:
        if utt not in cache:
            cache[utt] = read_wav(layout.raw(utt))[0] / 32768.0
        return cache[utt]

    for job in jobs:
        result = mix_pair(source(job.s1_utt), job.gain1, source(job.s2_utt), job.gain2,
                          job.level1, job.level2)
        if result.num_samples != job.num_samples:
            raise RuntimeError(f"{job.name}: {result.num_samples} samples, expected "
                               f"{job.num_samples}")
        write_wav(layout.wav(job.split, "s1", job.name), result.s1)
        write_wav(layout.wav(job.split, "s2", job.name), result.s2)
        write_wav(layout.wav(job.split, "mix", job.name), result.mix)
    return len(jobs)


# --------------------------------------------------------------------------------------------
# parallel map with a progress bar
# --------------------------------------------------------------------------------------------
def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _run_batches(fn: Callable, batches: Sequence[Sequence], args: tuple, jobs: int,
                 desc: str, quiet: bool, weight: Callable[[Sequence], int] = len) -> list:
    """Run `fn(*args_before, batch, *args_after)`-style tasks, in parallel when jobs > 1."""
    from tqdm.auto import tqdm

    results: list = []
    total = sum(weight(b) for b in batches)
    with tqdm(total=total, desc=desc, unit="item", disable=quiet or total == 0,
              leave=False) as bar:
        if jobs <= 1 or len(batches) <= 1:
            for batch in batches:
                results.append(fn(*args[0], batch, *args[1]))
                bar.update(weight(batch))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=jobs, return_as="generator_unordered")
            for batch, result in run(delayed(_tagged)(fn, args, b) for b in batches):
                results.append(result)
                bar.update(weight(batch))
    return results


def _tagged(fn: Callable, args: tuple, batch: Sequence) -> tuple[Sequence, object]:
    return batch, fn(*args[0], batch, *args[1])


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------
@dataclass
class _State:
    located: dict[str, Utterance | None] = field(default_factory=dict)
    audio: dict[str, dict] = field(default_factory=dict)
    lips: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


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


def prepare_corpus(corpus: str, root: str | Path, out: str | Path,
                   mix_list: str | Path = "official",
                   splits: Sequence[str] = SPLITS, jobs: int = 1,
                   shard: str | tuple[int, int] | None = None,
                   landmarker: str | Path | None = None, seed: int = 0,
                   num_mixtures: Mapping[str, int] | None = None, quiet: bool = False, *,
                   merge: bool = False, skip_lips: bool = False,
                   min_source_seconds: float = 0.0,
                   segment_seconds: float = SEGMENT_SECONDS) -> dict:
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

    Returns:
        the report (also written to `OUT/report.json`, or to `OUT/shards/` for a shard).
    """
    t_start = time.perf_counter()
    splits = [canonical_split(s) for s in splits]
    if len(set(splits)) != len(splits) or not splits:
        raise AvssError(f"--splits must name distinct splits among tr, cv, tt, got {splits}")
    shard_ = parse_shard(shard)
    if merge and shard_ is not None:
        raise AvssError("--merge joins the shards' parts: give it without --shard")
    jobs = max(1, int(jobs))
    corp: Corpus = get_corpus(corpus, root)
    layout = Layout(out)
    layout.out.mkdir(parents=True, exist_ok=True)
    if shard_ is None:
        remove_stale_temp_files(layout.out)
    root_s, out_s = str(corp.root), str(layout.out)
    landmarker_s = None if landmarker is None else str(landmarker)
    state = _State()

    # 1. lists and the utterances they name
    t0 = time.perf_counter()
    lists = resolve_lists(corp, mix_list, splits, seed, num_mixtures)
    _store_lists(lists, layout)
    needed = sorted({u for item in lists.values() for line in item.lines
                     for u in (line.s1_utt, line.s2_utt)})
    for utt in needed:
        state.located[utt] = corp.locate(utt)
    state.timings["index_lists"] = time.perf_counter() - t0

    # which mixtures and lip ROIs are ours
    def mine_mixture(split: str, line: MixLine) -> bool:
        return shard_ is None or _owner(f"{split}:{line.index}", shard_[1]) == shard_[0]

    def mine_lips(utt: str) -> bool:
        return shard_ is None or _owner(utt, shard_[1]) == shard_[0]

    my_lines = {split: [line for line in item.lines if mine_mixture(split, line)]
                for split, item in lists.items()}
    audio_utts = {u for lines in my_lines.values() for line in lines
                  for u in (line.s1_utt, line.s2_utt)}
    if not skip_lips:
        audio_utts |= {u for u in needed if mine_lips(u)}
    audio_todo = [state.located[u] for u in sorted(audio_utts) if state.located[u] is not None]

    # 2. sources
    t0 = time.perf_counter()
    missing_work: list[str] = []
    todo = []
    for u in audio_todo:
        record = _source_done(layout, u.utt)
        if record is None:
            todo.append(u)
        else:
            state.audio[u.utt] = record
    if todo and merge:
        missing_work.append(f"{len(todo)} sources (e.g. {todo[0].utt})")
    elif todo:
        for records in _run_batches(_source_batch, _chunks(todo, 32),
                                    ((root_s,), (out_s, segment_seconds, min_source_seconds)),
                                    jobs, "sources", quiet):
            for record in records:
                state.audio[record["utt"]] = record
    state.timings["sources"] = time.perf_counter() - t0

    # 3. lips
    t0 = time.perf_counter()
    if not skip_lips:
        todo_lips = []
        for u in audio_todo:
            if not mine_lips(u.utt) or not state.audio.get(u.utt, {}).get("ok"):
                continue
            record = _lips_done(layout, u.utt)
            if record is None:
                todo_lips.append((u, state.audio[u.utt]["num_samples"]))
            else:
                state.lips[u.utt] = record
        if todo_lips and merge:
            missing_work.append(f"{len(todo_lips)} lip ROIs (e.g. {todo_lips[0][0].utt})")
        elif todo_lips:
            size = max(1, min(16, math.ceil(len(todo_lips) / jobs)))
            for records in _run_batches(_lips_batch, _chunks(todo_lips, size),
                                        ((root_s,), (out_s, landmarker_s)), jobs, "lips",
                                        quiet):
                for record in records:
                    state.lips[record["utt"]] = record
        if shard_ is None:  # utterances whose lips a shard-mate owns are read back at merge
            for u in needed:
                if u not in state.lips and state.audio.get(u, {}).get("ok"):
                    record = _lips_done(layout, u)
                    if record is not None:
                        state.lips[u] = record
    state.timings["lips"] = time.perf_counter() - t0

    # 4. mixing
    t0 = time.perf_counter()
    problems: dict[str, list[dict]] = {}
    kept: dict[str, list[tuple[MixLine, MixJob]]] = {}
    to_mix: list[MixJob] = []
    for split, lines in my_lines.items():
        seen: dict[str, int] = {}
        kept[split] = []
        for line in lines:
            reason = _drop_reason(line, state, skip_lips or shard_ is not None)
            name = line.name
            if reason is None and name in seen:
                reason = f"duplicate output name (same as line {seen[name]})"
            if reason is not None:
                problems.setdefault(split, []).append(
                    {"split": split, "line": line.index, "name": name, "reason": reason})
                continue
            seen[name] = line.index
            a1, a2 = state.audio[line.s1_utt], state.audio[line.s2_utt]
            job = MixJob(split, name, line.s1_utt, line.gain1_db, line.s2_utt, line.gain2_db,
                         min(a1["num_samples"], a2["num_samples"]), a1["level"], a2["level"])
            kept[split].append((line, job))
            if not _mixture_done(layout, job):
                to_mix.append(job)
    if to_mix and merge:
        missing_work.append(f"{len(to_mix)} mixtures (e.g. {to_mix[0].split}/{to_mix[0].name})")
    elif to_mix:
        _run_batches(_mix_batch, _chunks(to_mix, 64), ((out_s,), ()), jobs, "mix", quiet)
    state.timings["mix"] = time.perf_counter() - t0
    if missing_work:
        raise AvssError("cannot merge: the shards have not finished "
                        + "; ".join(missing_work) + " — rerun the shards that own them",
                        layout.out)

    report = _report(corp, layout, lists, state, kept, problems, dict(
        mix_list=str(mix_list), splits=splits, seed=seed, num_mixtures=dict(num_mixtures or {}),
        skip_lips=skip_lips, min_source_seconds=min_source_seconds,
        segment_seconds=segment_seconds, jobs=jobs,
        shard=None if shard_ is None else f"{shard_[0]}/{shard_[1]}", merge=merge,
        landmarker=landmarker_s))

    # 5. manifests (not for a single shard: merge writes them)
    t0 = time.perf_counter()
    if shard_ is None:
        for split in splits:
            _write_split_manifest(corp, layout, split, kept[split], state, skip_lips)
        _remove_strays(layout, splits, kept)
    state.timings["manifests"] = time.perf_counter() - t0
    state.timings["total"] = time.perf_counter() - t_start
    report["timings_s"] = {k: round(v, 3) for k, v in state.timings.items()}
    if shard_ is None:
        _atomic_write_json(layout.report, report)
    else:
        _atomic_write_json(layout.out / "shards" / f"report-{shard_[0]}-of-{shard_[1]}.json",
                           report)
    return report


def _drop_reason(line: MixLine, state: _State, lips_optional: bool) -> str | None:
    """Why a mixture cannot be made (None when it can)."""
    for k, utt in ((1, line.s1_utt), (2, line.s2_utt)):
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


def _write_split_manifest(corp: Corpus, layout: Layout, split: str,
                          kept: Iterable[tuple[MixLine, MixJob]], state: _State,
                          skip_lips: bool) -> None:
    import pandas as pd

    rows = []
    for line, job in kept:
        row: dict = {
            "mixture_id": job.name,
            "mix_path": f"../wav16k/min/{split}/mix/{job.name}.wav",
            "num_samples": job.num_samples,
            "sample_rate": SAMPLE_RATE,
        }
        for k, utt, gain in ((1, job.s1_utt, job.gain1), (2, job.s2_utt, job.gain2)):
            located = state.located[utt]
            assert located is not None
            row.update({
                f"s{k}_path": f"../wav16k/min/{split}/s{k}/{job.name}.wav",
                f"s{k}_utt": utt,
                f"s{k}_speaker": located.speaker,
                f"s{k}_gain_db": gain,
                f"s{k}_lips": "" if skip_lips else f"../lips/{utt}.npz",
                f"s{k}_source": located.video,
            })
        for k, utt in ((1, job.s1_utt), (2, job.s2_utt)):
            row[f"s{k}_source_samples"] = state.audio[utt]["num_samples"]
            row[f"s{k}_lip_frames"] = 0 if skip_lips else state.lips[utt]["frames"]
        row["list_line"] = line.index
        rows.append(row)
    from avss_bench.manifest import MANIFEST_COLUMNS

    extra = [f"s{k}_{f}" for k in (1, 2) for f in ("source_samples", "lip_frames")]
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS) + extra + ["list_line"])
    write_manifest(frame, layout.manifest(split))


def _remove_strays(layout: Layout, splits: Sequence[str],
                   kept: Mapping[str, list[tuple[MixLine, MixJob]]]) -> None:
    """Delete mixture files no manifest row names: written by a shard before another shard's
    lips failed, or by an earlier `--skip-lips` run whose mixtures now lack lips."""
    for split in splits:
        names = {job.name for _, job in kept[split]}
        for kind in ("mix", "s1", "s2"):
            folder = layout.out / "wav16k" / "min" / split / kind
            if folder.is_dir():
                for wav in folder.glob("*.wav"):
                    if wav.stem not in names:
                        wav.unlink()


def _report(corp: Corpus, layout: Layout, lists: Mapping[str, SplitList], state: _State,
            kept: Mapping[str, list], problems: Mapping[str, list[dict]],
            options: dict) -> dict:
    skipped = []
    for utt, located in sorted(state.located.items()):
        if located is None:
            skipped.append({"utt": utt, "stage": "index", "reason": "not found in the corpus"})
    for stage, records in (("sources", state.audio), ("lips", state.lips)):
        for utt, record in sorted(records.items()):
            if not record.get("ok"):
                skipped.append({"utt": utt, "stage": stage, "media": record.get("media"),
                                "reason": record["reason"]})
    warnings = [{"utt": utt, "warning": f"short source: {r['num_samples'] / SAMPLE_RATE:.3f} s "
                                        f"< {options['segment_seconds']:g} s; its mixtures are "
                                        "'min'-truncated to it (as in the original recipe)"}
                for utt, r in sorted(state.audio.items()) if r.get("ok") and r.get("short")]
    dropped = [p for split in lists for p in problems.get(split, [])]
    return {
        "corpus": corp.name,
        "title": corp.title,
        "root": str(corp.root),
        "out": str(layout.out),
        "avss_bench_version": __version__,
        "options": options,
        "lists": {split: {"origin": item.origin, "source": item.source, "sha256": item.sha256,
                          "lines": len(item.lines)} for split, item in lists.items()},
        "counts": {split: {"listed": len(lists[split].lines),
                           "handled_here": len(kept[split]) + len(problems.get(split, [])),
                           "written": len(kept[split]),
                           "dropped": len(problems.get(split, []))} for split in lists},
        "utterances": {
            "needed": len(state.located),
            "found": sum(v is not None for v in state.located.values()),
            "sources_ok": sum(bool(r.get("ok")) for r in state.audio.values()),
            "lips_ok": sum(bool(r.get("ok")) for r in state.lips.values()),
            "skipped": len(skipped),
        },
        "skipped": skipped,
        "dropped": dropped,
        "warnings": warnings,
    }
