"""The prepared folder's layout, atomic status records, and byte-reproducible lip files."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avss_bench.core.atomic import atomic_path, write_text
from avss_bench.core.errors import AvssError
from avss_bench.corpora.base import Utterance

STATUS = ".status"
LIST_NAME = "mix_2_spk_{split}.scp"
LIST_NAME_N = "mix_{n}_spk_{split}.scp"  # N-speaker lists (wsj0-3mix naming)


def shard_owner(key: str, n: int) -> int:
    """The shard (0..n-1) that owns an item: a stable hash, identical on every machine."""
    return zlib.crc32(key.encode("utf-8")) % n


def write_json_record(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def save_lips(path: str | Path, rois: np.ndarray) -> None:
    """Write `np.load(path)["data"] == rois` like `np.savez_compressed(path, data=rois)`,
    atomically and byte-reproducibly (fixed zip timestamp)."""
    info = zipfile.ZipInfo("data.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(rois), allow_pickle=False)


def sha256_text(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reason_of(err: AvssError) -> str:
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

    def list_file(self, split: str, speakers: int = 2) -> Path:
        return self.out / "lists" / LIST_NAME_N.format(n=speakers, split=split)

    def conditions_file(self, split: str) -> Path:
        return self.out / "lists" / f"conditions_{split}.jsonl"

    def manifest(self, split: str) -> Path:
        return self.out / "manifests" / f"{split}.csv"

    @property
    def report(self) -> Path:
        return self.out / "report.json"

    @property
    def stamp(self) -> Path:
        return self.out / STAMP_NAME


#: What made a prepared folder beyond its lists (which `lists.store_lists` compares itself).
STAMP_NAME = "prepare.stamp.json"


def claim_out(layout: Layout, stamp: dict) -> None:
    """Make OUT this preparation's folder, or stop naming the first option that differs.

    `stamp` holds every option that changes the bytes written besides the lists: the corpus
    and its options, the source length rules, and the robustness conditions (noise folder and
    SNR range, RIRs or simulated rooms and their RT60 range, speakers, target absent). A folder
    prepared before stamps existed is judged by the options its report.json records.
    """
    from avss_bench.core.provenance import first_mismatch

    old, new = None, stamp
    if layout.stamp.is_file():
        old = read_status(layout.stamp)
        if not isinstance(old, dict):
            raise AvssError("unreadable preparation stamp; prepare into a fresh --out",
                            layout.stamp)
    elif layout.report.is_file():
        report = read_status(layout.report)
        options = report.get("options") if isinstance(report, dict) else None
        if isinstance(options, dict):
            old = {k: options.get(k) for k in ("segment_seconds", "min_source_seconds",
                                               "conditions")}
            new = {k: stamp.get(k) for k in old}
    mismatch = None if old is None else first_mismatch(old, new)
    if mismatch:
        raise AvssError(f"was prepared with other options: {mismatch}; rerun with those, or "
                        "prepare into a fresh --out", layout.out)
    if not layout.stamp.is_file():
        write_json_record(layout.stamp, stamp)


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


def read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass
class PrepareState:
    """What the stages found: located utterances, source and lip records, stage timings."""

    located: dict[str, Utterance | None] = field(default_factory=dict)
    audio: dict[str, dict] = field(default_factory=dict)
    lips: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
