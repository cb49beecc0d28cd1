"""What made an evaluation folder, so its partial results are reused only by the same run.

`evaluate` writes `evaluate.stamp.json` (model, checkpoint sha256, options, data identity) before
its first row. A later `evaluate` into the same folder resumes only when its own stamp is equal;
otherwise it stops with one line naming the first field that differs (`--overwrite` starts
over). A `profile.json` beside the results must be of the same model and checkpoint. Temp files
that a killed evaluation left beside its outputs are removed before the folder is judged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from avss_bench.core.atomic import write_text
from avss_bench.core.errors import AvssError
from avss_bench.models.registry import model_from_checkpoint  # noqa: F401 - used as stamps.*

STAMP = "evaluate.stamp.json"
#: Everything `evaluate` leaves in its folder (what --overwrite removes).
OUTPUTS = ("results.csv", "summary.json", "profile.json", "absent.csv", "examples", STAMP)


def files_digest(paths: list[Path]) -> str:
    """sha256 over (path, size, mtime_ns) of `paths`: changes when any file is rewritten."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def first_mismatch(old: Any, new: Any, where: str = "") -> str | None:
    """The first field (dotted path) where two stamps differ, with both values; None if equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(dict.fromkeys([*new, *old])):
            found = first_mismatch(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if old != new:
        return f"{where or 'stamp'} was {json.dumps(old, default=str)}, now " \
               f"{json.dumps(new, default=str)}"
    return None


def check_folder(out: Path, stamp: dict[str, Any], overwrite: bool) -> None:
    """Allow `out` to be (re)used by the evaluation `stamp`, or stop naming the mismatch.

    With `overwrite`, every earlier output of `evaluate` in `out` is removed first.
    """
    from avss_bench.core.atomic import remove_dead_temp_files

    remove_dead_temp_files(out, OUTPUTS)
    remove_dead_temp_files(out / "examples")
    partials = sorted(out.glob("results*.partial.csv"))
    present = [out / name for name in OUTPUTS if (out / name).exists()] + partials
    if overwrite:
        for path in present:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return
    stamp_path = out / STAMP
    if stamp_path.is_file():
        try:
            old = json.loads(stamp_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise AvssError(f"unreadable evaluation stamp ({err}); --overwrite starts over",
                            stamp_path) from err
        mismatch = first_mismatch(old, stamp)
        if mismatch:
            raise AvssError(f"holds another evaluation: {mismatch}; use another --out or "
                            "--overwrite", stamp_path)
    else:  # a profile.json alone (profiled before evaluating) is judged by its own fields
        unstamped = [path for path in present if path.name != "profile.json"]
        if unstamped:
            raise AvssError(f"holds evaluation outputs ({unstamped[0].name}) without a stamp of "
                            "what made them; use another --out or --overwrite", out)
    check_profile(out / "profile.json", stamp)


def check_profile(path: Path, stamp: dict[str, Any]) -> None:
    """A profile.json beside the results must be of this stamp's model and checkpoint."""
    if not path.is_file():
        return
    try:
        profile = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AvssError(f"unreadable profile ({err}); --overwrite removes it", path) from err
    mismatch = profile_mismatch(profile, stamp["model_target"], stamp["checkpoint_sha256"])
    if mismatch:
        raise AvssError(f"is a profile of another model: {mismatch}; --overwrite removes it",
                        path)


def profile_mismatch(profile: dict[str, Any], target: str, checkpoint_sha256: str | None
                     ) -> str | None:
    """Why a profile.json does not describe (target, checkpoint), or None when it does."""
    if profile.get("target") != target:
        return f"measured {profile.get('target') or profile.get('model')}, evaluated {target}"
    if "checkpoint_sha256" not in profile:
        return "it records no checkpoint sha256 (written by an older avss-bench)"
    if profile["checkpoint_sha256"] != checkpoint_sha256:
        return (f"checkpoint sha256 {str(profile['checkpoint_sha256'])[:12]} measured, "
                f"{str(checkpoint_sha256)[:12]} evaluated")
    return None


def write_stamp(out: Path, stamp: dict[str, Any]) -> None:
    """Record what is about to be evaluated into `out`."""
    write_text(out / STAMP, json.dumps(stamp, indent=2, sort_keys=True, default=str))
