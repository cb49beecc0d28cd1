"""Turn a ``--device`` option into a :class:`torch.device` that exists on this machine.

One place for every verb, so a typo or a missing GPU is a one-line error, not a traceback
from deep inside the first ``.to(device)``.
"""

from __future__ import annotations

import torch

from avss_bench.core.errors import AvssError


def _available(kind: str) -> tuple[bool, int]:
    """Whether a device type is usable here, and how many devices of it there are."""
    if kind == "cpu":
        return True, 1
    if kind == "cuda":
        return torch.cuda.is_available(), torch.cuda.device_count()
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend and backend.is_available()), 1
    module = getattr(torch, kind, None)
    if module is not None and hasattr(module, "is_available"):
        ok = bool(module.is_available())
        count = int(module.device_count()) if ok and hasattr(module, "device_count") else 1
        return ok, count
    return False, 0


def resolve_device(name: str | None) -> torch.device:
    """The device named by ``name`` (``None`` or ``""``: CUDA when present, else the CPU).

    Raises:
        AvssError: the name is not a device, or that device is not present here.
    """
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise AvssError(f"--device '{name}' is not a device name; "
                        "use cpu, cuda, cuda:N or mps") from None
    ok, count = _available(device.type)
    if not ok:
        raise AvssError(f"--device '{name}': no {device.type} device is available on this "
                        "machine; use --device cpu")
    if device.index is not None and device.index >= count:
        raise AvssError(f"--device '{name}': this machine has {count} {device.type} "
                        f"device(s) (indices 0..{count - 1})")
    return device
