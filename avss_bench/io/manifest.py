"""The manifest: one CSV per split, one row per mixture of 2 or more speakers (schema:
manifests/README.md; ARCHITECTURE.md, Contracts).

Paths inside a manifest are relative to the manifest's own folder, so a prepared corpus can be
moved or mounted elsewhere. Manifests are read and written with pandas; writes are atomic.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from avss_bench.core.atomic import atomic_path
from avss_bench.core.errors import AvssError

SPLITS = ("tr", "cv", "tt")
SPLIT_ALIASES = {"train": "tr", "valid": "cv", "val": "cv", "dev": "cv", "test": "tt"}

SPEAKER_FIELDS = ("path", "utt", "speaker", "gain_db", "lips", "source")
MIXTURE_FIELDS = ("mixture_id", "mix_path", "num_samples", "sample_rate")
MANIFEST_COLUMNS: tuple[str, ...] = MIXTURE_FIELDS + tuple(
    f"s{k}_{field}" for k in (1, 2) for field in SPEAKER_FIELDS
)
PATH_COLUMNS = ("mix_path", "s1_path", "s2_path", "s1_lips", "s2_lips")


def canonical_split(split: str) -> str:
    """Map `train`/`valid`/`test` (and friends) to the standard list names `tr`/`cv`/`tt`."""
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise AvssError(f"unknown split '{split}'; use one of tr, cv, tt (or train, valid, test)")
    return name


def manifest_path(data_dir: str | Path, split: str) -> Path:
    """Where the manifest of `split` lives in a prepared corpus (`DIR/manifests/<split>.csv`).

    `data_dir` may also be the manifests folder itself or a CSV file.
    """
    data_dir = Path(data_dir)
    if data_dir.suffix == ".csv":
        return data_dir
    split = canonical_split(split)
    for candidate in (data_dir / "manifests" / f"{split}.csv", data_dir / f"{split}.csv"):
        if candidate.is_file():
            return candidate
    raise AvssError(f"no manifest for split '{split}' (looked for manifests/{split}.csv)", data_dir)


#: Identifier columns read as text (numeric-looking ids such as "00017" must stay strings).
TEXT_COLUMNS = {"mixture_id": str, "absent_utt": str, "absent_speaker": str,
                **{f"s{k}_{what}": str for k in range(1, 5) for what in ("utt", "speaker")}}


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV, checking that every required column is present."""
    path = Path(path)
    if not path.is_file():
        raise AvssError("manifest not found", path)
    try:
        frame = pd.read_csv(path, dtype=TEXT_COLUMNS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise AvssError(f"not a readable manifest CSV: {err}", path) from err
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise AvssError(f"manifest lacks columns {missing}", path)
    if frame["mixture_id"].duplicated().any():
        dup = frame.loc[frame["mixture_id"].duplicated(), "mixture_id"].iloc[0]
        raise AvssError(f"duplicate mixture_id '{dup}'", path)
    return frame


def speaker_count(frame: pd.DataFrame) -> int:
    """Speakers of the largest mixture: 2, or N for a manifest with s3_*, ..., sN_* columns."""
    count = 2
    while f"s{count + 1}_path" in frame.columns:
        count += 1
    return count


def row_targets(row: dict, count: int) -> list[str]:
    """The targets (``s1``, ``s2``, ...) a manifest row has: a mixture of fewer speakers than
    the manifest's largest leaves the other ``s{k}_path`` cells empty."""
    return [f"s{k}" for k in range(1, count + 1) if isinstance(row.get(f"s{k}_path"), str)]


def write_manifest(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a manifest atomically (temp file + rename), required columns first."""
    path = Path(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"manifest frame lacks columns {missing}")
    extra = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    with atomic_path(path) as tmp:
        frame[list(MANIFEST_COLUMNS) + extra].to_csv(tmp, index=False)


def resolve_path(manifest: str | Path, relative: str | Path) -> Path:
    """Turn a path stored in a manifest into a real path (relative to the manifest's folder)."""
    relative = Path(relative)
    if relative.is_absolute():
        return relative
    return (Path(manifest).parent / relative).resolve()
