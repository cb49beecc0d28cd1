"""`avss-bench report`: the static site, checked in a real browser (headless Chromium).

Two demo-size evaluations (a small TinyAV checkpoint; the unprocessed mixture, with DNSMOS) on a
synthetic prepared corpus, and a one-condition robustness run; the site is rendered by Chromium
from disk, and the rendered DOM and screenshots are checked: one table row per result, the
published rows of the official set present (and no other), the robustness runs in their own
section with their plot, every image and sound a file that exists, no console error, a
non-blank page at desktop and phone widths, under 2 MB of HTML.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.corpora.testsets import official_test_set
from avss_bench.evaluate.run import evaluate
from avss_bench.io.testset import write_test_set
from avss_bench.report import build_report
from avss_bench.robustness.grid import build_grid
from avss_bench.robustness.plot import robustness_plot
from avss_bench.robustness.run import run_robustness

sys.path.insert(0, str(Path(__file__).parent))
from page_helpers import (  # noqa: E402
    assert_nothing_remote,
    assert_screenshots_not_blank,
    dump_dom,
    width_at,
)
from synthetic import make_prepared_corpus, make_tiny_checkpoint  # noqa: E402

# ~40 s on 2 busy cores: two evaluations (one with DNSMOS), three reports, three Chromium runs
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    corpus = make_prepared_corpus(root / "corpus", {"tt": 4}, seconds=1.0)
    # a record naming the official LRS2 test set, written by hand so that the published rows
    # have something to sit beside (the synthetic content is of course not that set)
    write_test_set(corpus / "manifests" / "tt.csv", official_test_set("lrs2"))
    checkpoint = make_tiny_checkpoint(root / "tiny.pt")
    evaluate("tiny-av", checkpoint, corpus, out_dir=root / "results" / "tiny",
             metrics=("si_snr", "sdr", "stoi"), save_audio=8, quiet=True)
    summary = evaluate("mixture", None, corpus, out_dir=root / "results" / "mixture",
                       metrics=("si_snr", "sdr", "stoi", "dnsmos"), save_audio=8, quiet=True)
    assert summary["metrics"]["dnsmos_ovrl"]["n"] == 8  # evaluate computes DNSMOS
    grid = build_grid([("clean", corpus)], ["zero:100"])
    frame = run_robustness("mixture", None, grid, root / "results" / "robust", quiet=True)
    robustness_plot(frame, root / "results" / "robust" / "robustness.png")
    return root / "results"


@pytest.fixture(scope="module")
def site(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    result = CliRunner().invoke(main, ["report", str(results / "tiny"), str(results / "mixture"),
                                       str(results / "robust"), "--out", str(out),
                                       "--example", "tt001_s2"])
    assert result.exit_code == 0, result.output
    return out


class _Assets(HTMLParser):
    """Collects what the rendered DOM links and the leaderboard rows."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[tuple[str, str]] = []
        self.rows: list[str] = []
        self.links: list[str] = []
        self.downloads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("img", "audio", "source", "script") and a.get("src"):
            self.srcs.append((tag, a["src"] or ""))
        if tag == "link" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "a" and "download" in a:
            self.downloads.append(a.get("href") or "")
        if tag == "tr" and a.get("class"):
            self.rows.append(a["class"] or "")


def test_report_renders_in_chromium(site: Path, tmp_path: Path) -> None:
    index = site / "index.html"
    html_bytes = sum(p.stat().st_size for p in site.rglob("*")
                     if p.suffix in (".html", ".js", ".css"))
    assert html_bytes < 2_000_000
    assert_nothing_remote(index.read_text())

    rendered = dump_dom(index)
    dom = _Assets()
    dom.feed(rendered)
    assert dom.rows.count("ours") == 2  # one row per result; robustness points are not rows
    assert dom.rows.count("reported") > 0  # the published rows beside ours: LRS2's only
    assert "Test set: LRS2-2Mix (the official LRS2-2Mix test list" in rendered
    assert "LRS3-2Mix" not in rendered and "VoxCeleb2" not in rendered
    audio = [src for tag, src in dom.srcs if tag == "audio"]
    images = [src for tag, src in dom.srcs if tag == "img"]
    # best / median / worst of all TinyAV's targets + the requested one: mixture and reference
    # always, each run's estimate where it kept it (TinyAV's own three)
    examples = sum(1 for src in images if src.endswith("lips.png"))
    assert 3 <= examples <= 4 and any("tt001_s2" in src for src in audio)
    assert 2 * examples + 3 <= len(audio) <= 4 * examples
    assert "best SI-SNRi of all 8 scored targets of TinyAV (demo)" in rendered
    assert "median SI-SNRi of all 8 scored targets" in rendered
    assert {"figures/pareto.svg", "figures/robustness-0.svg",
            "figures/dist_si_snr_i.png"} <= set(images)  # the paper figures as vector graphics
    assert '<h2 id="robustness">Robustness</h2><h3>Robustness: conditions of LRS2-2Mix' \
        in rendered
    # the CSV behind each table and figure, and the figures themselves, to download
    assert {"data/leaderboard.csv", "data/pareto.csv", "data/robustness-0.csv",
            "data/dist_si_snr_i.csv", "figures/pareto.svg"} <= set(dom.downloads)
    for src in dom.downloads:
        assert (site / src).is_file(), f"missing download {src}"
    assert pd.read_csv(site / "data" / "dist_si_snr_i.csv").shape == (16, 5)  # 2 runs x 8
    assert "IIANet" in set(pd.read_csv(site / "data" / "pareto.csv")["method"])
    for src in audio:
        samples, rate = sf.read(site / src)
        assert rate == 16000 and samples.size == 16000 and np.any(samples)
    for src in images + dom.links:
        assert (site / src).is_file(), f"missing asset {src}"
    assert "<details>" in rendered and '<table class="prov">' in rendered  # readable provenance
    assert f"<th>fingerprint</th><td>{official_test_set('lrs2').fingerprint}</td>" in rendered
    assert "DNSMOS OVRL*" in rendered and "wrong speaker" in rendered
    assert "figures/dist_dnsmos_ovrl.png" in images

    assert_screenshots_not_blank(index, tmp_path)
    inner, content = width_at(index, tmp_path, 390)  # a phone: nothing but boxes scrolls
    assert inner == 390 and content <= inner, f"the page is {content} px wide at 390 px"


def test_report_is_rebuilt_in_place_and_refuses_a_foreign_folder(results: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_report([results / "tiny"], out, reported=False)
    first = (out / "index.html").read_text()
    assert first.count('<tr class="ours"') == 1 and '<tr class="reported"' not in first
    assert "No published rows" not in first  # --no-reported: no rows, no notes
    build_report([results / "tiny"], out)  # an earlier report is replaced
    assert (out / "index.html").read_text().count('<tr class="ours"') == 1
    foreign = tmp_path / "papers"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(AvssError, match="not empty"):
        build_report([results / "tiny"], foreign)
    with pytest.raises(AvssError, match="example id 'nope'"):
        build_report([results / "tiny"], out, ["nope"])
