"""Download a file once, atomically, with its sha256 checked before it lands in the cache.

Used by every loader that can fetch released weights for users who have internet; nothing in
the default path of a command or in the tests downloads.
"""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from avss_bench.core.atomic import atomic_path
from avss_bench.core.errors import AvssError


def download(url: str, dest: str | Path, sha256: str | None = None, *, desc: str | None = None,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch `url` into `dest` (atomic rename), refusing content whose sha256 differs.

    Raises:
        AvssError: network failure or checksum mismatch (one line naming the URL).
    """
    from tqdm import tqdm

    dest = Path(dest)
    digest = hashlib.sha256()
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=desc or dest.name,
                          disable=not progress) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
            if sha256 is not None and digest.hexdigest() != sha256:
                raise AvssError(f"downloaded file has sha256 {digest.hexdigest()}, expected "
                                f"{sha256}", url)
    except OSError as err:
        raise AvssError(f"cannot download ({err})", url) from err
    return dest
