"""The mouth-ROI store: lip crops extracted once, reused by every corpus prepared from a clip.

Every prepared folder keeps its own `lips/<utt>.npz` (so `validate`, copying and deleting a
corpus work as before), but the crops of a clip depend only on the clip, the landmarker and
the ROI parameters, not on the mixture list or the conditions. The 3-speaker, noisy,
reverberant and target-absent variants of a corpus, a re-run with another list and every shard
of a run extract the same crops; the store keeps them once, under a key of

* the clip's identity: the sha256 of the media file's bytes (so a moved or copied corpus still
  hits, and an edited clip never does);
* the landmarker: the sha256 of the `.task` file, and the MediaPipe version that runs it;
* the ROI parameters: frames kept, look-ahead frames, the face centre and how many faces are
  searched (AVSpeech), the minimum face fraction, `ROI_METHOD`, the decoder and warp library
  versions.

Layout: `<store>/<k[:2]>/<k>.json` (the record: ok, frames or the failure reason, the npz's
sha256) and `<store>/<k[:2]>/<k>.npz` (the bytes `prepare` wrote, reused bit for bit). Both are
written atomically (temp file + rename; the record after the npz), so a crash leaves a
complete entry or none, and shards on several machines may fill one store at once (two writers
of a key write the same bytes). A record whose npz is missing or does not match its sha256 is
a miss and is rewritten.

Where: `$AVSS_BENCH_LIPS_STORE`, else `<cache>/lips` (`avss_bench.core.cache`); `prepare
--lips-store DIR` overrides both, `--lips-store off` disables it. Moving it is moving the folder
(keys hold no paths); deleting it only costs re-extraction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_bytes, write_text
from avss_bench.core.cache import cache_path
from avss_bench.core.hashing import sha256_of

ENV_VAR = "AVSS_BENCH_LIPS_STORE"
#: `--lips-store` values that turn the store off
OFF = ("off", "none", "")
#: Version of what the crops are (decode, landmarks -> iBUG-68, smoothing, transform, crop):
#: bump it whenever `avss_bench.lips` or the 25-fps decoding changes the bytes of a crop, so
#: that stored crops made by the old method are never reused.
ROI_METHOD = 1
#: libraries whose versions change crop bytes (decoder, landmarker runtime, warp, resize)
LIBRARIES = ("av", "mediapipe", "numpy", "opencv-contrib-python", "scikit-image")


def default_store_dir() -> Path:
    """`$AVSS_BENCH_LIPS_STORE`, else `lips/` in the cache folder."""
    given = os.environ.get(ENV_VAR)
    return Path(given).expanduser() if given else cache_path("lips")


def resolve_store(option: str | Path | None) -> LipStore | None:
    """The store for a `--lips-store` value: None = the default, `off` = no store."""
    if option is None:
        given = os.environ.get(ENV_VAR)
        if given is not None and given.strip().lower() in OFF:
            return None
        return LipStore(default_store_dir())
    if str(option).strip().lower() in OFF:
        return None
    return LipStore(Path(option).expanduser())


@functools.cache
def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


@functools.lru_cache(maxsize=4096)
def _content_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(path)


def content_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, hashed once per (path, size, mtime) in this process."""
    stat = os.stat(path)
    return _content_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def entry_key(media_sha256: str, landmarker_sha256: str, params: Mapping[str, Any]) -> str:
    """The store key of one clip's crops (see the module docstring)."""
    ident = {"media": media_sha256, "landmarker": landmarker_sha256, "method": ROI_METHOD,
             "libraries": library_versions(), "params": dict(params)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode("utf-8")).hexdigest()


class LipStore:
    """A folder of stored crops (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LipStore({str(self.root)!r})"

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.json", folder / f"{key}.npz"

    def get(self, key: str) -> tuple[dict, bytes | None] | None:
        """The stored record and npz bytes (None for a failure record), or None (a miss)."""
        record_path, npz_path = self._paths(key)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or "ok" not in record:
            return None
        if not record["ok"]:
            return record, None
        try:
            data = npz_path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            return None  # damaged: extract again and overwrite
        return record, data

    def put(self, key: str, record: Mapping[str, Any], npz: bytes | None = None) -> None:
        """Store a clip's outcome: an ok record with its npz bytes, or a failure record.

        Write errors (a full or read-only store) are ignored: the store is only a cache.
        """
        record_path, npz_path = self._paths(key)
        entry = dict(record)
        try:
            if npz is not None:
                entry["sha256"] = hashlib.sha256(npz).hexdigest()
                write_bytes(npz_path, npz)
            write_text(record_path, json.dumps(entry, sort_keys=True) + "\n")
        except OSError:
            pass
