"""``index.html`` of a ``separate`` output folder: watch the video with each speaker's voice.

One self-contained page (the report's CSS, a few lines of JS, an inline SVG), linking only the
``speaker_k.mp4`` files beside it, so it opens from disk with no server or network:

- the video, one ``<video>`` per speaker (that face boxed, that voice), with buttons that switch
  between them at the same playback time, and one ``<audio>`` per speaker (the WAV, which plays
  in browsers without H.264, e.g. a Chromium built without proprietary codecs);
- the face tracks: a table (coverage, lip coverage, prominence, mean box) and an SVG of the
  frame with each face's mean box and the path of its centre;
- DNSMOS P.835 (SIG, BAK, OVRL) of every separated track and of the input soundtrack, with the
  caveat that DNSMOS rewards clean-sounding audio even when it is the wrong speaker;
- the stamp of the run (what ``tracks.json`` records).
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from avss_bench.core.atomic import write_text
from avss_bench.core.constants import SAMPLE_RATE

PAGE_NAME = "index.html"
#: at most this many points per face path in the SVG (keeps a long video's page small)
MAX_PATH_POINTS = 400

CAVEAT = ("DNSMOS is a reference-free 1–5 prediction of how listeners would rate a clip "
          "(SIG: the speech, BAK: the background, OVRL: overall). It never sees who should be "
          "speaking: it rewards clean-sounding audio even when it is the wrong speaker, so a "
          "high score does not mean the right voice was separated. The input soundtrack's "
          "scores are the baseline.")

PAGE_CSS = """
.player video{width:100%;max-width:960px;background:#000;display:none}
.player video.on{display:block}.pick button{font:inherit;margin:0 6px 6px 0;padding:4px 12px;
border:2px solid #999;border-radius:4px;background:#f7f7f7;cursor:pointer}
.pick button.on{font-weight:600}svg.faces{max-width:640px;width:100%;height:auto;
border:1px solid #ccc}
"""

PAGE_JS = """
(function(){var vids=document.querySelectorAll('.player video'),
btns=document.querySelectorAll('.pick button');
btns.forEach(function(b){b.addEventListener('click',function(){
var cur=document.querySelector('.player video.on'),next=vids[+b.dataset.k];
if(cur===next){return;}var playing=cur&&!cur.paused;if(cur){cur.pause();
try{next.currentTime=cur.currentTime;}catch(e){}cur.classList.remove('on');}
next.classList.add('on');btns.forEach(function(o){o.classList.toggle('on',o===b);});
if(playing){next.play();}});});})();
"""


def score_dnsmos(signal: np.ndarray) -> dict[str, Any]:
    """DNSMOS of one 16 kHz track: ``{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}`` rounded to
    4 decimals, or each ``NaN`` and ``"error"`` the reason (a failed value never stops a run)."""
    from avss_bench.metrics.perceptual import MetricError
    from avss_bench.metrics.registry import metric_registry

    metric = metric_registry.get("dnsmos")
    try:
        scores = metric.score(signal, sample_rate=SAMPLE_RATE)
    except MetricError as err:
        return {**{key: math.nan for key in metric.keys}, "error": str(err)}
    return {key: round(float(value), 4) for key, value in scores.items()}


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*colour)


def _num(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{number:.{digits}f}"


def _player(speakers: list[dict[str, Any]], palette: list[tuple[int, int, int]]) -> str:
    if not any("mp4" in s for s in speakers):
        return "<p>No videos (run without <code>--no-video</code> to get them).</p>"
    buttons, videos = [], []
    for k, s in enumerate(speakers):
        on = " on" if k == 0 else ""
        colour = _rgb(palette[k % len(palette)])
        buttons.append(f'<button type="button" class="{on.strip()}" data-k="{k}" '
                       f'style="border-color:{colour}">Speaker {s["speaker"]}</button>')
        src = escape(s["mp4"], quote=True)
        videos.append(f'<video class="{on.strip()}" controls preload="metadata" src="{src}" '
                      f'data-speaker="{s["speaker"]}"></video>')
    audios = "".join(
        f'<div class="clip"><b>Speaker {s["speaker"]}</b><audio controls preload="metadata" '
        f'src="{escape(s["wav"], quote=True)}"></audio></div>' for s in speakers)
    return ('<p class="muted">Each button plays the video with that speaker\'s separated voice '
            '(their face is boxed); switching keeps the playback time.</p>'
            f'<div class="pick">{"".join(buttons)}</div>'
            f'<div class="player">{"".join(videos)}</div>'
            '<p class="muted">The separated voices alone (16 kHz WAV; these play in any browser, '
            'also one without H.264 video):</p>'
            f'<div class="clips">{audios}</div>')


def _scores_table(speakers: list[dict[str, Any]], mixture: dict[str, Any] | None) -> str:
    head = "<tr><th>Track</th><th>SIG</th><th>BAK</th><th>OVRL</th><th>File</th></tr>"
    rows = []
    entries = [(f"Speaker {s['speaker']}", s.get("dnsmos") or {}, s["wav"], "speaker")
               for s in speakers]
    if mixture is not None:
        entries.append(("Input soundtrack (mixture)", mixture, None, "mixture"))
    for label, scores, wav, kind in entries:
        cells = [f"<td>{escape(label)}</td>"]
        for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
            value = scores.get(key)
            cells.append(f'<td class="{key}" data-v="{escape(_num(value, 4))}">'
                         f"{escape(_num(value))}</td>")
        link = (f'<a href="{escape(wav, quote=True)}">{escape(wav)}</a>' if wav else "–")
        if scores.get("error"):
            link += f' <span class="note">{escape(scores["error"])}</span>'
        cells.append(f"<td>{link}</td>")
        rows.append(f'<tr class="{kind}">' + "".join(cells) + "</tr>")
    return (f'<div class="wrap"><table class="dnsmos"><thead>{head}</thead><tbody>'
            + "".join(rows) + f'</tbody></table></div><p class="note">{escape(CAVEAT)}</p>')


def _tracks_table(speakers: list[dict[str, Any]], palette: list[tuple[int, int, int]]) -> str:
    head = ("<tr><th>Speaker</th><th>Face detected</th><th>Lips found</th><th>Prominence</th>"
            "<th>Mean box (x0, y0, x1, y1)</th></tr>")
    rows = []
    for k, s in enumerate(speakers):
        boxes = np.asarray(s["boxes"], dtype=np.float64).reshape(-1, 4)
        mean_box = ", ".join(f"{v:.0f}" for v in boxes.mean(axis=0)) if len(boxes) else "–"
        swatch = f'<span style="color:{_rgb(palette[k % len(palette)])}">&#9632;</span>'
        rows.append(f'<tr class="track"><td>{swatch} Speaker {s["speaker"]}</td>'
                    f"<td>{100 * s['coverage']:.0f}%</td><td>{100 * s['lip_coverage']:.0f}%</td>"
                    f"<td>{s['prominence']}</td><td>{mean_box}</td></tr>")
    return (f'<div class="wrap"><table class="tracks"><thead>{head}</thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _tracks_svg(width: int, height: int, speakers: list[dict[str, Any]],
                palette: list[tuple[int, int, int]]) -> str:
    """The frame as a grey rectangle, each face's mean box and the path of its box centre."""
    parts = [f'<svg class="faces" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="face tracks"><rect width="{width}" height="{height}" fill="#eee"/>']
    stroke = max(2, round(min(width, height) / 200))
    for k, s in enumerate(speakers):
        boxes = np.asarray(s["boxes"], dtype=np.float64).reshape(-1, 4)
        if not len(boxes):
            continue
        colour = _rgb(palette[k % len(palette)])
        x0, y0, x1, y1 = boxes.mean(axis=0)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        step = max(1, math.ceil(len(centres) / MAX_PATH_POINTS))
        points = " ".join(f"{x:.0f},{y:.0f}" for x, y in centres[::step])
        parts.append(f'<rect x="{x0:.0f}" y="{y0:.0f}" width="{x1 - x0:.0f}" '
                     f'height="{y1 - y0:.0f}" fill="none" stroke="{colour}" '
                     f'stroke-width="{stroke}"/><polyline points="{points}" fill="none" '
                     f'stroke="{colour}" stroke-width="{stroke}" stroke-opacity=".6"/>'
                     f'<text x="{x0:.0f}" y="{max(y0 - 2 * stroke, 12 * stroke):.0f}" '
                     f'fill="{colour}" font-size="{12 * stroke}">speaker {s["speaker"]}</text>')
    return "".join(parts) + "</svg>"


def render_page(meta: dict[str, Any], mixture_dnsmos: dict[str, Any] | None,
                palette: list[tuple[int, int, int]]) -> str:
    """The page's HTML from the ``tracks.json`` payload (speakers with ``dnsmos`` scores)."""
    from avss_bench.io.html import CSS

    speakers = meta["speakers"]
    name = Path(str(meta["video"])).name
    seconds = meta["num_samples"] / meta["sample_rate"]
    stamp = json.dumps(meta.get("stamp", {}), indent=1, default=str)
    title = f"{name}: {len(speakers)} speaker(s) separated"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}{PAGE_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="muted">Model <b>{escape(str(meta["model"]))}</b>; {seconds:.2f} s, '
        f'{meta["width"]}x{meta["height"]}, {meta["num_frames"]} frames at {meta["fps"]} fps. '
        "Speakers are numbered left to right.</p>"
        f'<nav><a href="#watch">Watch</a><a href="#scores">Scores</a>'
        '<a href="#tracks">Face tracks</a><a href="#stamp">Stamp</a></nav>'
        f'<h2 id="watch">Watch and listen</h2>{_player(speakers, palette)}'
        f'<h2 id="scores">Reference-free scores (DNSMOS P.835)</h2>'
        f"{_scores_table(speakers, mixture_dnsmos)}"
        f'<h2 id="tracks">Face tracks</h2>{_tracks_table(speakers, palette)}'
        f"{_tracks_svg(int(meta['width']), int(meta['height']), speakers, palette)}"
        '<p class="muted">Mean face box and the path of its centre over the video '
        "(per-frame boxes in tracks.json).</p>"
        f'<h2 id="stamp">Stamp</h2><details><summary>what made these files</summary>'
        f"<pre>{escape(stamp)}</pre></details>"
        f"<script>{PAGE_JS}</script></body></html>")


def write_page(out_dir: Path, meta: dict[str, Any], mixture_dnsmos: dict[str, Any] | None,
               palette: list[tuple[int, int, int]]) -> Path:
    """Write ``out_dir/index.html`` atomically; returns its path."""
    path = out_dir / PAGE_NAME
    write_text(path, render_page(meta, mixture_dnsmos, palette))
    return path
