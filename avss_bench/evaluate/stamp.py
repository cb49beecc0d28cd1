"""What `evaluate` checks beside its folder's stamp (`results.check_folder`): the separator a
checkpoint records, and that a `profile.json` beside the results is of the same model and
checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from avss_bench.core.errors import AvssError
from avss_bench.models.registry import model_from_checkpoint  # noqa: F401 - used as stamps.*


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
