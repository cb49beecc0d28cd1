"""`validate_prepared`: re-check a prepared corpus from its manifests, file by file.

For every row of `OUT/manifests/{tr,cv,tt}.csv`:

* **paths**: the mixture, both sources and both lip files exist (paths relative to the
  manifest's folder);
* **format**: each WAV is 16 kHz, mono, 16-bit PCM, and holds exactly `num_samples` samples;
  `sample_rate` is 16000;
* **sum**: `|mix - (s1 + s2)| <= 1` LSB at every sample (each file is rounded separately);
* **peak**: `max(|mix|, |s1|, |s2|) == round(0.9 * 32768) = 29491`, +-1 (the recipe's 0.9 scaling);
* **gains**: the P.56 active level of the written s1 minus that of the written s2 equals
  `s1_gain_db - s2_gain_db` within 0.01 dB. With the 2 s sources prepare keeps in
  `OUT/raw_audio/`, the level of a written source is `c^2 * activlev(x)`: `x` the source,
  `activlev` measured on its full 8 kHz copy as the recipe does, `c` the scale actually
  applied (least squares of the written samples on `x`). This holds for 'min'-truncated
  mixtures too, and is exact to ~1e-5 dB. Without the sources (`raw_audio/` deleted) the
  level is measured on the written file itself; P.56 is only scale-invariant for powers of
  two (the level of `c * x` differs from `c^2` times that of `x` by up to 0.06 dB on the
  miniatures), so this fallback allows 0.1 dB, and skips truncated mixtures (a truncated
  source was measured on its full length);
* **lips**: the npz holds `data`, `uint8 [F, 96, 96]`, and `F` passes the loader's own length
  rule (`data.lengths.lip_length_problem`, one function for both, so a corpus that validates
  also loads): the lips cover the mixture (`F >= round(num_samples * 25 / 16000) - 1`; a
  'min'-truncated source's lips are longer and are cut by the loader) and match their own
  source (`|F - round(s<k>_source_samples * 25 / 16000)| <= 1` where the manifest says it).

Robustness conditions (`prepare --speakers/--noise/--rir/--simulate-rooms/--target-absent`):
an N-speaker row checks `s1..sN` (sum within `floor((N + 1) / 2)` LSB, each source's level
against s1's); a noisy row checks `mix = mix_clean + noise` (1 LSB), `mix_clean` = the sum of
the sources, and the SNR (P.56 level of `mix_clean` over the noise's mean power) against
`snr_db` within 0.1 dB; a reverberant row checks that the `s<k>_reverb` images sum to the
clean mixture (the references are the early parts, so no sum and no gain check on them); a
target-absent row also checks the absent face's lips. The peak check covers every file.

Data sanity (`prepare.sanity`): a mixture whose sources are the same recording or one of whose
sources is silent, and an empty split, are problems; duplicated mixtures and a speaker in two
splits are counted warnings. A split's test-set record (`<split>.testset.json`) must match the
manifest's content (its fingerprint).

Problems are collected, not raised: the caller (the CLI) prints them and exits non-zero.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.core.errors import AvssError
from avss_bench.data.lengths import audio_length_problem, lip_length_problem, optional_int
from avss_bench.io.manifest import SPLITS, read_manifest, resolve_path
from avss_bench.prepare.sanity import sanity_problems, split_checks

PEAK_INT16 = 29491  # round(0.9 * 32768)
PEAK_TOLERANCE = 1
SUM_TOLERANCE_LSB = 1
GAIN_TOLERANCE_DB = 0.01  # with the sources in OUT/raw_audio
WRITTEN_GAIN_TOLERANCE_DB = 0.1  # fallback: P.56 measured on the written files
SNR_TOLERANCE_DB = 0.1  # noisy condition: P.56 on the written mix_clean (see the gains note)
LIP_SIZE = 96
SEGMENT_SAMPLES = 32000


@dataclass
class ValidationResult:
    """What `validate_prepared` found."""

    problems: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # split -> rows checked
    warnings: list[str] = field(default_factory=list)  # data-sanity warnings (prepare.sanity)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_wav(path: Path, num_samples: int, what: str, problems: list[str]) -> np.ndarray | None:
    import soundfile as sf

    if not path.is_file():
        problems.append(f"{what} missing: {path}")
        return None
    try:
        info = sf.info(str(path))
        data, _ = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        problems.append(f"{what} unreadable ({err}): {path}")
        return None
    bad = []
    if info.samplerate != SAMPLE_RATE:
        bad.append(f"rate {info.samplerate} Hz (expected {SAMPLE_RATE})")
    if info.channels != 1:
        bad.append(f"{info.channels} channels (expected mono)")
    if info.subtype != "PCM_16":
        bad.append(f"subtype {info.subtype} (expected PCM_16)")
    length = audio_length_problem(info.frames, num_samples)
    if length:
        bad.append(length)
    if bad:
        problems.append(f"{what} {', '.join(bad)}: {path}")
        return None
    return data[:, 0].astype(np.int64)


def _check_lips(path: Path, num_samples: int, source_samples: int | None) -> str | None:
    if not path.is_file():
        return f"missing: {path}"
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "data" not in npz.files:
                return f"no 'data' array (has {npz.files}): {path}"
            data = npz["data"]
    except (OSError, ValueError, EOFError) as err:
        return f"unreadable ({err}): {path}"
    if data.dtype != np.uint8 or data.ndim != 3 or data.shape[1:] != (LIP_SIZE, LIP_SIZE):
        return f"expected uint8 [F, {LIP_SIZE}, {LIP_SIZE}], got {data.dtype} {list(data.shape)}"
    problem = lip_length_problem(data.shape[0], num_samples, source_samples)
    return f"{problem}: {path}" if problem else None


def _raw_source(manifest: str, utt: str, n: int) -> np.ndarray | None:
    """The 2 s source prepare kept in OUT/raw_audio (float, int16 / 32768), or None."""
    import soundfile as sf

    path = Path(manifest).resolve().parent.parent / "raw_audio" / f"{utt}.wav"
    if not path.is_file():
        return None
    try:
        data, _ = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    return data[:, 0] / 32768.0 if data.shape[0] >= n else None


def _check_gains(manifest: str, row: dict, s1: np.ndarray, s2: np.ndarray, n: int,
                 truncated: bool, level_8k) -> str | None:
    """The P.56 level difference of the written sources vs the gains (module docstring)."""
    want = float(row["s1_gain_db"]) - float(row["s2_gain_db"])
    x1 = _raw_source(manifest, str(row["s1_utt"]), n)
    x2 = _raw_source(manifest, str(row["s2_utt"]), n)
    if x1 is not None and x2 is not None:
        levels = []
        for written, x in ((s1, x1), (s2, x2)):
            lev = level_8k(x).power
            seg = x[:n]
            energy = float(np.dot(seg, seg))
            scale = float(np.dot(written / 32768.0, seg)) / energy if energy > 0 else 0.0
            if not (lev > 0 and scale > 0):
                return "a source is silent or not a scaled copy of its raw_audio source"
            levels.append(20 * np.log10(scale) + 10 * np.log10(lev))
        got, tolerance, how = levels[0] - levels[1], GAIN_TOLERANCE_DB, "applied"
    else:
        if truncated:
            return None
        lev1, lev2 = level_8k(s1 / 32768.0), level_8k(s2 / 32768.0)
        if not (lev1.power > 0 and lev2.power > 0):
            return "a written source is silent (P.56 level 0)"
        got, tolerance = lev1.db - lev2.db, WRITTEN_GAIN_TOLERANCE_DB
        how = "measured on the written files (raw_audio/ missing)"
    if abs(got - want) > tolerance:
        return (f"level difference s1 - s2 is {got:.4f} dB ({how}), the gains give "
                f"{want:.4f} dB (tolerance {tolerance} dB)")
    return None


def _check_snr(row: dict, clean: np.ndarray, noise: np.ndarray, level_8k) -> str | None:
    """The written SNR (P.56 level of mix_clean over the noise's mean power) vs `snr_db`."""
    power = float(np.mean((noise / 32768.0) ** 2))
    lev = level_8k(clean / 32768.0)
    if not (power > 0 and lev.power > 0):
        return "mix_clean or noise is silent"
    got = lev.db - 10 * np.log10(power)
    if abs(got - float(row["snr_db"])) > SNR_TOLERANCE_DB:
        return (f"SNR {got:.3f} dB (P.56 level of mix_clean over the noise power), the manifest "
                f"says {float(row['snr_db']):.3f} dB (tolerance {SNR_TOLERANCE_DB} dB)")
    return None


def _num_sources(row: dict) -> int:
    """N of an N-speaker row (`s1_path` .. `sN_path` present and non-empty)."""
    k = 2
    while isinstance(row.get(f"s{k + 1}_path"), str) and row[f"s{k + 1}_path"]:
        k += 1
    return k


def check_rows(manifest: str, rows: list[dict], require_lips: bool,
               check_gains: bool = True) -> list[str]:
    """All problems of some manifest rows (a unit of work for parallel validation)."""
    from avss_bench.prepare.mixing import level_8k

    problems: list[str] = []
    lips_seen: dict[tuple, str | None] = {}
    split = Path(manifest).stem
    for row in rows:
        where = f"{split}.csv row {row['_row']} ({row['mixture_id']})"
        local: list[str] = []
        try:
            n = int(row["num_samples"])
        except (TypeError, ValueError):
            problems.append(f"{where}: num_samples '{row['num_samples']}' is not an integer")
            continue
        if int(row["sample_rate"]) != SAMPLE_RATE:
            local.append(f"sample_rate {row['sample_rate']} (expected {SAMPLE_RATE})")
        nsrc = _num_sources(row)
        cols = [("mix", "mix_path")] + [(f"s{k}", f"s{k}_path") for k in range(1, nsrc + 1)]
        reverb = isinstance(row.get("s1_reverb_path"), str) and bool(row.get("s1_reverb_path"))
        noisy = isinstance(row.get("noise_path"), str) and bool(row.get("noise_path"))
        if reverb:
            cols += [(f"s{k}_reverb", f"s{k}_reverb_path") for k in range(1, nsrc + 1)]
        if noisy:
            cols += [("mix_clean", "mix_clean_path"), ("noise", "noise_path")]
        signals = {}
        for kind, col in cols:
            if not isinstance(row.get(col), str) or not row[col]:
                local.append(f"{col} is empty")
                continue
            signals[kind] = _check_wav(resolve_path(manifest, row[col]), n, kind, local)
        have_all = len(signals) == len(cols) and all(v is not None for v in signals.values())
        if have_all and n:
            clean = signals["mix_clean"] if noisy else signals["mix"]
            parts = [signals[f"s{k}_reverb" if reverb else f"s{k}"] for k in range(1, nsrc + 1)]
            sums = [("mix", clean, parts)]
            if noisy:
                sums.append(("mix", signals["mix"], [signals["mix_clean"], signals["noise"]]))
                sums[0] = ("mix_clean", clean, parts)
            for what, total, terms in sums:
                err = int(np.max(np.abs(total - sum(terms))))
                tol = max(SUM_TOLERANCE_LSB, (len(terms) + 1) // 2)
                if err > tol:
                    names = ([f"s{k}" for k in range(1, nsrc + 1)] if terms is parts
                             else ["mix_clean", "noise"])
                    local.append(f"{what} != {' + '.join(names)} (max |{what} - "
                                 f"{' - '.join(names)}| = {err} LSB > {tol})")
            if noisy and check_gains:
                problem = _check_snr(row, signals["mix_clean"], signals["noise"], level_8k)
                if problem:
                    local.append(problem)
            peak = int(max(np.max(np.abs(v)) for v in signals.values()))
            if abs(peak - PEAK_INT16) > PEAK_TOLERANCE:
                local.append(f"peak {peak} (the recipe scales the loudest file to 0.9 full "
                             f"scale = {PEAK_INT16} +-{PEAK_TOLERANCE})")
        source_samples = {k: optional_int(row.get(f"s{k}_source_samples"))
                          for k in range(1, nsrc + 1)}
        if all(v is not None for v in source_samples.values()):
            truncated = {k: source_samples[k] > n for k in source_samples}
        else:  # older manifests: a mixture shorter than 2 s may have been truncated
            truncated = {k: n < SEGMENT_SAMPLES for k in source_samples}
        if have_all and check_gains and n and not reverb:
            for k in range(2, nsrc + 1):  # each source's level against s1's
                pair = {"s1_gain_db": row["s1_gain_db"], "s2_gain_db": row[f"s{k}_gain_db"],
                        "s1_utt": row["s1_utt"], "s2_utt": row[f"s{k}_utt"]}
                problem = _check_gains(manifest, pair, signals["s1"], signals[f"s{k}"], n,
                                       any(truncated.values()), level_8k)
                if problem:
                    local.append(problem if k == 2 else f"s1 vs s{k}: {problem}")
        local += sanity_problems(split, row, nsrc, signals)
        lip_cols = [(k, f"s{k}_lips") for k in range(1, nsrc + 1)]
        if "absent_utt" in row:  # target absent: the silent face's lips
            lip_cols.append(("absent", "absent_lips"))
            source_samples["absent"] = None
        for k, col in lip_cols:
            rel = row.get(col)
            if not isinstance(rel, str) or not rel:
                if require_lips:
                    local.append(f"{col} is empty (prepared with --skip-lips? "
                                 "validate with --no-lips)")
                continue
            key = (rel, n, source_samples[k])
            if key not in lips_seen:
                lips_seen[key] = _check_lips(resolve_path(manifest, rel), n, source_samples[k])
            if lips_seen[key] is not None:
                local.append(f"s{k} lips {lips_seen[key]}")
        problems.extend(f"{where}: {p}" for p in local)
    return problems


def validate_prepared(out: str | Path, splits: Sequence[str] | None = None, jobs: int = 1,
                      require_lips: bool | None = None, check_gains: bool = True,
                      quiet: bool = False) -> ValidationResult:
    """Check every manifest row of a prepared corpus (see the module docstring).

    Args:
        out: the prepared folder (holding `manifests/`), as given to `prepare --out`.
        splits: which splits to check (default: every manifest present).
        jobs: worker processes.
        require_lips: whether empty `s*_lips` entries are problems; default: yes, unless
            `OUT/report.json` says the corpus was prepared with `--skip-lips`.
        check_gains: measure the P.56 level difference of every pair (the slow part).
        quiet: no progress bar.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    result = ValidationResult()
    if not out.is_dir():
        raise AvssError("not a directory", out)
    if require_lips is None:
        require_lips = True
        report = out / "report.json"
        if report.is_file():
            try:
                require_lips = not json.loads(report.read_text())["options"]["skip_lips"]
            except (ValueError, KeyError, TypeError):
                result.problems.append(f"report.json is unreadable: {report}")
    wanted = list(splits) if splits else list(SPLITS)
    manifests = [(s, out / "manifests" / f"{s}.csv") for s in wanted]
    present = [(s, p) for s, p in manifests if p.is_file()]
    if splits:
        result.problems.extend(f"{s}: manifest missing: {p}" for s, p in manifests
                               if not p.is_file())
    if not present and not result.problems:
        result.problems.append(f"no manifests under {out / 'manifests'}")
    tasks = []
    frames = {}
    for split, path in present:
        try:
            frame = read_manifest(path)
        except AvssError as err:
            result.problems.append(f"{split}: {err}")
            continue
        frames[split] = frame
        records = frame.to_dict("records")
        for i, record in enumerate(records):
            record["_row"] = i + 1
        result.rows[split] = len(records)
        for start in range(0, len(records), 64):
            tasks.append((str(path), records[start:start + 64]))
    split_checks(present, frames, result)
    with tqdm(total=sum(len(r) for _, r in tasks), desc="validate", unit="mixture",
              disable=quiet, leave=False) as bar:
        if jobs <= 1 or len(tasks) <= 1:
            for path, rows in tasks:
                result.problems.extend(check_rows(path, rows, require_lips, check_gains))
                bar.update(len(rows))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=jobs, return_as="generator")
            for (_, rows), problems in zip(tasks, run(
                    delayed(check_rows)(p, r, require_lips, check_gains) for p, r in tasks),
                                           strict=True):
                result.problems.extend(problems)
                bar.update(len(rows))
    return result
