"""`separate`'s index.html, checked in a real browser (headless Chromium).

A two-speaker clip is made from the two talking-head videos of ../shared/data/videos (2 s
each, halved to 256x256, side by side, soundtracks mixed), separated by the `mixture`
separator through the CLI, and the page is rendered by Chromium from disk: one video per
speaker, every linked file there, DNSMOS values and the caveat, a non-blank page at desktop and
phone widths, under 2 MB of HTML, both voices loading, the buttons switching videos; a
rerun with `--no-video` removes the stale page.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from page_helpers import assert_nothing_remote, assert_screenshots_not_blank, chromium, dump_dom
from shared_data import LANDMARKER, VIDEOS

from avss_bench.cli import main
from avss_bench.io.audio import decode_audio
from avss_bench.io.video import read_frames_25fps
from avss_bench.io.video_write import write_mp4_frames

FACES = ("sadtalker_WDA_KatieHill_000.mp4", "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")
SECONDS = 2.0
# ~50 s on 2 busy cores (making the clip, separate with two mp4s and DNSMOS, 4 Chromium runs)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two faces side by side (2 s, 512x256), the two soundtracks mixed."""
    frames = [read_frames_25fps(VIDEOS / name)[0][:int(SECONDS * 25), ::2, ::2]
              for name in FACES]
    audio = sum(decode_audio(VIDEOS / name)[:int(SECONDS * 16000)] for name in FACES) / 2
    path = tmp_path_factory.mktemp("pair") / "pair.mp4"
    joined = np.concatenate(frames, axis=2)
    write_mp4_frames(path, iter(joined), joined.shape[2], joined.shape[1], 25.0,
                     audio.astype(np.float32), 16000, preset="ultrafast")
    return path


@pytest.fixture(scope="module")
def separated(pair_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sep") / "out"
    result = CliRunner().invoke(main, ["separate", str(pair_video), "-n", "2", "--model",
                                       "mixture", "-o", str(out), "--landmarker", str(LANDMARKER),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    return out


class _Dom(HTMLParser):
    """Media elements, links, DNSMOS cells and table rows of the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.media: list[tuple[str, dict[str, str | None]]] = []
        self.hrefs: list[str] = []
        self.scores: dict[str, list[str]] = {}
        self.rows: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("video", "audio", "img", "source", "script") and a.get("src"):
            self.media.append((tag, a))
        if tag in ("a", "link") and a.get("href") and not (a["href"] or "").startswith("#"):
            self.hrefs.append(a["href"] or "")
        if tag == "td" and (a.get("class") or "").startswith("dnsmos_"):
            self.scores.setdefault(a["class"] or "", []).append(a.get("data-v") or "")
        if tag == "tr" and a.get("class"):
            self.rows.append(a["class"] or "")


def test_separate_page_renders_in_chromium(separated: Path, tmp_path: Path) -> None:
    index = separated / "index.html"
    html = index.read_text()
    assert index.stat().st_size < 2_000_000
    assert_nothing_remote(html)
    meta = json.loads((separated / "tracks.json").read_text())
    assert (separated / "tracks.json").stat().st_mtime_ns >= index.stat().st_mtime_ns

    rendered = dump_dom(index)
    dom = _Dom()
    dom.feed(rendered)
    videos = [a for tag, a in dom.media if tag == "video"]
    assert [a["src"] for a in videos] == ["speaker_1.mp4", "speaker_2.mp4"]
    assert [a.get("class") for a in videos] == ["on", ""]  # speaker 1 shown first
    audio = [a["src"] for tag, a in dom.media if tag == "audio"]
    assert audio == ["speaker_1.wav", "speaker_2.wav"]
    for tag, a in dom.media:
        if tag != "script":
            assert (separated / (a["src"] or "")).is_file(), f"missing {tag} {a['src']}"
    assert sorted(dom.hrefs) == ["speaker_1.wav", "speaker_2.wav"]  # the scores' files
    for href in dom.hrefs:
        assert (separated / href).is_file()
    assert dom.rows.count("speaker") == 2 and dom.rows.count("mixture") == 1
    assert dom.rows.count("track") == 2
    # DNSMOS of both separated tracks and the input, the same numbers as tracks.json
    for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
        shown = [float(v) for v in dom.scores[key]]
        expected = [s["dnsmos"][key] for s in meta["speakers"]] + [meta["mixture_dnsmos"][key]]
        assert shown == pytest.approx(expected, abs=1e-4)
        assert all(1.0 <= v <= 5.0 for v in shown)
    assert "wrong speaker" in rendered
    assert "checkpoint_sha256" in rendered  # the stamp
    assert rendered.count("<polyline") == 2  # one face path per speaker

    assert_screenshots_not_blank(index, tmp_path)


def test_voices_load_and_the_buttons_switch_videos(separated: Path) -> None:
    """In Chromium: both WAV players load (the soundtrack's length), and clicking speaker 2's
    button shows speaker 2's video and hides speaker 1's (the page's own script). The mp4s are
    not played: the distribution's Chromium has no H.264 decoder (hence the WAV players)."""
    probe = separated / "probe.html"
    page = (separated / "index.html").read_text()
    script = ("<script>var n=0;document.querySelectorAll('audio').forEach(function(a){"
              "a.addEventListener('loadedmetadata',function(){n+=1;if(n<2){return;}"
              "var au=document.querySelectorAll('audio'),v=document.querySelectorAll("
              "'.player video');document.querySelector('.pick button[data-k=\"1\"]').click();"
              "document.title='T'+au[0].duration+'|'+au[1].duration+'|'+v[0].className+'|'+"
              "v[1].className;});a.load();});</script>")
    probe.write_text(page.replace("</body>", script + "</body>"))
    try:
        done = chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    title = re.search(r"<title>(.*?)</title>", done.stdout)
    seconds = json.loads((separated / "tracks.json").read_text())["num_samples"] / 16000
    assert abs(seconds - SECONDS) < 0.1  # the clip's soundtrack (AAC pads it a little)
    assert title is not None and title.group(1) == f"T{seconds:g}|{seconds:g}||on", title


def test_rerun_without_videos_removes_the_page(separated: Path, pair_video: Path,
                                               tmp_path: Path) -> None:
    out = tmp_path / "again"
    shutil.copytree(separated, out)
    result = CliRunner().invoke(main, ["separate", str(pair_video), "-n", "1", "--model",
                                       "mixture", "-o", str(out), "--landmarker", str(LANDMARKER),
                                       "--no-video", "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["speaker_1.wav", "tracks.json"]
    meta = json.loads((out / "tracks.json").read_text())
    assert "mixture_dnsmos" not in meta and "dnsmos" not in meta["speakers"][0]
