"""Target-speaker examples from a prepared split, as the official IIANet/CTCNet loaders build them.

Each 2-speaker mixture yields two examples: (mixture, speaker k's lips) -> speaker k's audio.
Lip crops are stored as uint8 [F, 96, 96] (Lip ROI contract); here they are divided by 255,
cropped to 88x88 (centre for evaluation; random crop + horizontal flip for training) and
standardised with mean 0.421 and std 0.165. `lip_rows=50` keeps only the crop's top 50 rows, as
the official IIANet loaders' `[:, :50]` slice does: the input
its released checkpoints were trained and tested on.

Lengths (`data.lengths`, the rule `avss-bench validate` also applies): each target's lips are
cut to the mixture's duration, `round(samples * 25 / 16000)` frames, whatever the lip file
holds beyond it (the lips of an utterance cover its whole 2 s source; a 'min'-mode mixture can be
shorter). A training segment longer than the mixture zero-pads the audio and holds the last
lip frame.

Memory: nothing is cached unless `preload` is asked for, and preload refuses a split whose
decoded arrays exceed `preload_limit_mb`, so a DataLoader worker's memory stays flat at
corpus size (benchmarks/data_memory.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from avss_bench.core.constants import LIP_CROP, LIP_MEAN, LIP_STD, SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.data.lengths import (
    audio_length_problem,
    fit_frames,
    lip_frames,
    lip_length_problem,
    lips_for,
    optional_int,
)
from avss_bench.data.visual_conditions import VisualCondition, apply_condition
from avss_bench.io.audio import read_audio, wav_info
from avss_bench.io.manifest import read_manifest, resolve_path, row_targets, speaker_count


def read_lips(path: Path) -> np.ndarray:
    """Read a lip ROI file (`data`: uint8 [F, H, W]) with a one-line error naming the file."""
    try:
        with np.load(path) as archive:
            data = archive["data"]
    except (OSError, KeyError, ValueError) as err:
        raise AvssError(f"cannot read lip ROI file: {err}", path) from err
    if data.ndim != 3 or data.shape[1] < LIP_CROP or data.shape[2] < LIP_CROP:
        raise AvssError(f"lip ROI array has shape {data.shape}, expected [F, >=88, >=88]", path)
    return data


def _wav_info(path: Path) -> sf._SoundFileInfo:
    info = wav_info(path)
    if info.samplerate != SAMPLE_RATE:
        raise AvssError(f"sample rate is {info.samplerate} Hz, expected {SAMPLE_RATE}", path)
    return info


def _npz_frames(path: Path) -> int:
    """Frame count of a lip ROI file from its array header, without decompressing the data."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive, archive.open("data.npy") as member:
            major, _ = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape, _, _ = read_header(member)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise AvssError(f"cannot read lip ROI file: {err}", path) from err
    return int(shape[0])


#: Lip crop height the official IIANet loaders feed their released checkpoints.
OFFICIAL_IIANET_LIP_ROWS = 50
#: Default bound on what `preload` may hold in memory (decoded float32 audio + uint8 lips).
PRELOAD_LIMIT_MB = 2048.0


def lips_to_tensor(frames: np.ndarray, train: bool = False,
                   rng: np.random.Generator | None = None,
                   rows: int = LIP_CROP) -> torch.Tensor:
    """uint8 [F, H, W] -> float [1, F, rows, 88], cropped, flipped (train) and standardised.

    `rows` < 88 keeps the top `rows` rows of the 88x88 crop (the official IIANet slice).
    """
    if not 1 <= rows <= LIP_CROP:
        raise AvssError(f"lip rows must be in 1..{LIP_CROP}, got {rows}")
    _, height, width = frames.shape
    if train:
        rng = rng or np.random.default_rng()
        top = int(rng.integers(0, height - LIP_CROP + 1))
        left = int(rng.integers(0, width - LIP_CROP + 1))
    else:
        top, left = int(round((height - LIP_CROP) / 2)), int(round((width - LIP_CROP) / 2))
    crop = frames[:, top:top + rows, left:left + LIP_CROP].astype(np.float32) / 255.0
    if train and rng.random() < 0.5:
        crop = crop[:, :, ::-1]
    crop = (crop - LIP_MEAN) / LIP_STD
    return torch.from_numpy(np.ascontiguousarray(crop)).unsqueeze(0)


def fit_length(array: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad the first axis to `length` (audio; lips follow `data.lengths`)."""
    if array.shape[0] >= length:
        return array[:length]
    pad = [(0, length - array.shape[0])] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, pad)


@dataclass(frozen=True)
class TargetItem:
    """One (mixture, target speaker) pair of a split."""

    mixture_id: str
    target: str  # "s1" .. "sN"
    mix_path: Path
    target_path: Path
    lips_path: Path
    num_samples: int  # the mixture's length (manifest)
    source_samples: int | None = None  # the target's source before 'min' cutting, if known


class TargetSpeakerDataset(Dataset):
    """Every (mixture, target) pair of a manifest split.

    Args:
        manifest: the split's manifest CSV.
        segment_s: seconds kept from the start of each item (the official recipes train on the
            first 2.0 s); None keeps full length (evaluation).
        train: random lip crop + flip instead of the centre crop.
        preload: read every file once into memory (small corpora, the demo); refused when the
            decoded arrays would exceed `preload_limit_mb`. Without it nothing is cached.
        seed: seeds the lip augmentation (with the epoch and the item index, so the
            augmentation of an item does not depend on which process or worker loads it).
        lip_rows: height of the lip crop (88; 50 = the official IIANet loaders' slice).
        preload_limit_mb: the most `preload` may hold.
        visual_condition: damage applied to each item's raw lip crops (robustness tests;
            `data.visual_conditions`), seeded by the condition's seed and the item index.

    Each item is a dict with `mixture` [T], `target` [T], `lips` [1, F, 88, 88],
    `mixture_id`, `target_name`.
    """

    def __init__(self, manifest: str | Path, segment_s: float | None = 2.0, train: bool = False,
                 preload: bool = False, seed: int = 0, lip_rows: int = LIP_CROP,
                 preload_limit_mb: float = PRELOAD_LIMIT_MB,
                 visual_condition: VisualCondition | None = None) -> None:
        self.manifest = Path(manifest)
        frame = read_manifest(self.manifest)
        self.items: list[TargetItem] = []
        speakers = speaker_count(frame)  # prepare --speakers N: s3_*, s4_* columns
        for number, row in enumerate(frame.to_dict("records"), start=1):
            num_samples = optional_int(row["num_samples"])
            if num_samples is None:
                raise AvssError(f"row {number} ({row['mixture_id']}): num_samples "
                                f"'{row['num_samples']}' is not an integer", self.manifest)
            for target in row_targets(row, speakers):  # a row may have fewer sources
                if not isinstance(row[f"{target}_lips"], str):  # an empty cell: NaN
                    raise AvssError(f"mixture {row['mixture_id']}: {target}_lips is empty (a "
                                    "corpus prepared with --skip-lips has no lip ROIs); prepare "
                                    "it without --skip-lips", self.manifest)
                self.items.append(TargetItem(
                    mixture_id=str(row["mixture_id"]), target=target,
                    mix_path=resolve_path(self.manifest, row["mix_path"]),
                    target_path=resolve_path(self.manifest, row[f"{target}_path"]),
                    lips_path=resolve_path(self.manifest, row[f"{target}_lips"]),
                    num_samples=num_samples,
                    source_samples=optional_int(row.get(f"{target}_source_samples"))))
        self.segment_s = segment_s
        self.train = train
        self.seed = seed
        self.epoch = 0  # set by the trainer: augmentation depends on (seed, epoch, index)
        if not 1 <= lip_rows <= LIP_CROP:
            raise AvssError(f"lip rows must be in 1..{LIP_CROP}, got {lip_rows}", self.manifest)
        self.lip_rows = lip_rows
        self.visual_condition = visual_condition
        self._cache: dict[Path, np.ndarray] | None = None
        if preload:
            self._preload(preload_limit_mb)

    def _preload(self, limit_mb: float) -> None:
        """Read every file once, stopping with an error before the cache passes `limit_mb`."""
        self._cache = {}
        held = 0
        for item in self.items:
            for path in (item.mix_path, item.target_path, item.lips_path):
                if path in self._cache:
                    continue
                data = self._decode(path)
                held += data.nbytes
                if held > limit_mb * 2**20:
                    self._cache = None
                    raise AvssError(f"preload needs more than {limit_mb:g} MB for this split; "
                                    "set preload: false (files are then read per item)",
                                    self.manifest)
                self._cache[path] = data

    @property
    def cached_arrays(self) -> int:
        """How many decoded arrays are held in memory (0 without preload)."""
        return 0 if self._cache is None else len(self._cache)

    def check(self) -> None:
        """Verify every item's files cheaply (headers only), failing on the first bad one.

        Run before training so a missing wav or a lip file that cannot cover its audio stops
        the run at once, not hours in. The checks are `data.lengths`' (as `validate`'s).
        """
        for item in self.items:
            for path in (item.mix_path, item.target_path):
                problem = audio_length_problem(_wav_info(path).frames, item.num_samples)
                if problem:
                    raise AvssError(problem, path)
            problem = lip_length_problem(_npz_frames(item.lips_path), item.num_samples,
                                         item.source_samples)
            if problem:
                raise AvssError(problem, item.lips_path)

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def _decode(path: Path) -> np.ndarray:
        if path.suffix == ".npz":
            return read_lips(path)
        return read_audio(path, "float32", SAMPLE_RATE)[0]

    def _read(self, path: Path) -> np.ndarray:
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        return self._decode(path)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw arrays of one item: mixture, target (float32) and the lip file's frames (uint8),
        length-checked (`data.lengths`) but not yet cut."""
        item = self.items[index]
        mixture, target = self._read(item.mix_path), self._read(item.target_path)
        lips = self._read(item.lips_path)
        for path, audio in ((item.mix_path, mixture), (item.target_path, target)):
            problem = audio_length_problem(audio.shape[0], item.num_samples)
            if problem:
                raise AvssError(problem, path)
        problem = lip_length_problem(lips.shape[0], item.num_samples, item.source_samples)
        if problem:
            raise AvssError(problem, item.lips_path)
        return mixture, target, lips

    def __getitem__(self, index: int) -> dict:
        mixture, target, lips = self.load(index)
        lips = lips_for(lips, mixture.shape[0])  # exactly the mixture's duration
        if self.segment_s is not None:
            samples = int(round(self.segment_s * SAMPLE_RATE))
            mixture, target = fit_length(mixture, samples), fit_length(target, samples)
            lips = fit_frames(lips, lip_frames(samples))
        lips = apply_condition(lips, self.visual_condition, index)
        item = self.items[index]
        return {
            "mixture": torch.from_numpy(np.ascontiguousarray(mixture)),
            "target": torch.from_numpy(np.ascontiguousarray(target)),
            "lips": lips_to_tensor(lips, train=self.train,
                                   rng=np.random.default_rng([self.seed, self.epoch, index]),
                                   rows=self.lip_rows),
            "mixture_id": item.mixture_id,
            "target_name": item.target,
        }


class DynamicMixDataset(TargetSpeakerDataset):
    """IIANet-style remixing: fresh source pairs every epoch from the split's scaled sources.

    Item i of epoch e draws two different source utterances (by utterance id, as the official
    loader re-draws until the clip names differ) with a generator seeded by (seed, e, i), sums
    their already-scaled source wavs without further gain, and picks one of the two as the
    target, with its lips (cut to that source wav's length, then its last frame held over
    any zero-padding of the segment). The epoch has as many items as the fixed split (2 per
    mixture).
    """

    def __init__(self, manifest: str | Path, segment_s: float | None = 2.0, train: bool = True,
                 preload: bool = False, seed: int = 0, lip_rows: int = LIP_CROP,
                 preload_limit_mb: float = PRELOAD_LIMIT_MB) -> None:
        super().__init__(manifest, segment_s=segment_s, train=train, preload=preload, seed=seed,
                         lip_rows=lip_rows, preload_limit_mb=preload_limit_mb)
        frame = read_manifest(self.manifest)
        sources: dict[str, tuple[Path, Path]] = {}
        for row in frame.itertuples(index=False):
            for k in (1, 2):
                utt = str(getattr(row, f"s{k}_utt"))
                sources.setdefault(utt, (resolve_path(self.manifest, getattr(row, f"s{k}_path")),
                                         resolve_path(self.manifest, getattr(row, f"s{k}_lips"))))
        if len(sources) < 2:
            raise AvssError("dynamic mixing needs at least two distinct source utterances",
                            self.manifest)
        self.sources = list(sources.items())

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        first, second = rng.choice(len(self.sources), size=2, replace=False)
        (utt_a, (wav_a, lips_a)), (utt_b, (wav_b, _)) = self.sources[first], self.sources[second]
        a, b = self._read(wav_a), self._read(wav_b)
        samples = int(round((self.segment_s or 2.0) * SAMPLE_RATE))
        lips = fit_frames(lips_for(self._read(lips_a), a.shape[0]), lip_frames(samples))
        a, b = fit_length(a, samples), fit_length(b, samples)
        return {
            "mixture": torch.from_numpy(a + b),
            "target": torch.from_numpy(np.ascontiguousarray(a)),
            "lips": lips_to_tensor(lips, train=self.train,
                                   rng=np.random.default_rng([self.seed, self.epoch, index]),
                                   rows=self.lip_rows),
            "mixture_id": f"dm_{utt_a}_{utt_b}",
            "target_name": "s1",
        }
