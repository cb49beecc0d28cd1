"""Checking a generated HTML page in a real browser (headless Chromium), for the results site
(`test_report.py`) and `separate`'s page (`test_separate_page.py`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0"]
#: the desktop and phone window sizes every page is screenshot at
WINDOWS = ((1280, 800), (390, 844))


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with `args`; a missing Chromium fails the test, never skips it."""
    assert CHROMIUM, "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True,
                          timeout=90, check=False)


def assert_nothing_remote(html: str) -> None:
    """The page links no remote file (it must work offline, from disk)."""
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing remote


def dump_dom(index: Path) -> str:
    """The DOM Chromium renders from `index`, asserting it ran and logged no console error."""
    done = chromium("--dump-dom", index.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    return done.stdout


def assert_screenshots_not_blank(index: Path, folder: Path) -> None:
    """Screenshots of `index` at desktop and phone widths (into `folder`) have the window's size
    and are not blank."""
    for width, height in WINDOWS:
        shot = folder / f"shot_{width}.png"
        done = chromium(f"--window-size={width},{height}", f"--screenshot={shot}",
                        index.as_uri())
        assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
        pixels = matplotlib.image.imread(shot)
        assert pixels.shape[:2] == (height, width)
        assert pixels[..., :3].std() > 0.05  # not a blank page


def width_at(index: Path, folder: Path, width: int = 390) -> tuple[int, int]:
    """The page's viewport and content widths when shown `width` CSS px wide: (inner, scroll).

    Headless Chromium lays a window out at least 500 px wide whatever --window-size says, so
    the page is loaded into an iframe of exactly `width` px; scroll > inner means the page
    itself scrolls sideways there (a table or figure scrolling in its own box is fine).
    """
    probe = folder / f"width_{width}.html"
    probe.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="{index.as_uri()}" '
        f'style="border:0;width:{width}px;height:800px"></iframe><script>'
        "document.getElementById('f').addEventListener('load',function(){"
        "var p=document.createElement('pre');p.id='probe';p.textContent="
        "this.contentWindow.innerWidth+' '+this.contentDocument.documentElement.scrollWidth;"
        "document.body.appendChild(p);});</script></body></html>")
    done = chromium("--window-size=500,844", "--virtual-time-budget=5000", "--dump-dom",
                    probe.as_uri())
    found = re.search(r'<pre id="probe">(\d+) (\d+)</pre>', done.stdout)
    assert found, done.stderr[-2000:]
    return int(found.group(1)), int(found.group(2))
