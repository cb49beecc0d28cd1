"""The report page: one self-contained HTML file (inline CSS and a few lines of JS to sort the
tables), linking local PNGs and WAVs only, so it opens from disk with no server or network."""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from avss_bench.evaluate.leaderboard import QUALITY, Entry, Stat
from avss_bench.evaluate.plots import macs_per_second
from avss_bench.io.html import CSS
from avss_bench.report.examples import Clip, Example, fmt
from avss_bench.report.figures import LABELS
from avss_bench.report.runs import Run, dnsmos_stat, failures

JS = """
document.querySelectorAll('table.lb th').forEach(function(th,i){th.addEventListener('click',
function(){var t=th.closest('table'),b=t.tBodies[0],asc=th.dataset.asc!=='1';
th.dataset.asc=asc?'1':'0';var rows=Array.prototype.slice.call(b.rows);
rows.sort(function(x,y){var a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;
var na=(a===undefined||a===''),nc=(c===undefined||c==='');if(na||nc){return na-nc;}
var fa=parseFloat(a),fc=parseFloat(c);var r=(isNaN(fa)||isNaN(fc))?a.localeCompare(c):fa-fc;
return asc?r:-r;});rows.forEach(function(r){b.appendChild(r);});});});
"""

PROVENANCE_KEYS = ("model", "model_target", "model_package", "name", "dataset", "test_set",
                   "split", "data", "num_targets", "checkpoint", "checkpoint_sha256",
                   "random_init", "lip_rows", "config", "command", "provenance", "seconds")


def _cell(text: str, value: Any = None) -> str:
    v = "" if value is None else escape(str(value), quote=True)
    return f'<td data-v="{v}">{escape(text)}</td>'


def _stat_cell(stat: Stat | None, digits: int) -> str:
    if stat is None or stat.mean is None or math.isnan(stat.mean):
        return _cell("–")
    text = f"{stat.mean:.{digits}f}"
    if stat.half_width is not None and not math.isnan(stat.half_width):
        text += f" ± {stat.half_width:.{digits}f}"
    return _cell(text, round(stat.mean, 6))


def _details(label: str, body: str) -> str:
    return f"<details><summary>{escape(label)}</summary><pre>{escape(body)}</pre></details>"


def _row(entry: Entry, run: Run | None, citation: str | None, with_dnsmos: bool) -> str:
    kind = "ours" if run is not None else ("delta" if entry.source == "delta" else "reported")
    cells = [_cell(entry.method, entry.method)]
    for key, _ in QUALITY:
        cells.append(_stat_cell(entry.stats.get(key), 3 if key == "stoi" else 2))
    if with_dnsmos:
        stat = dnsmos_stat(run) if run is not None else None
        cells.append(_cell("–") if stat is None else _stat_cell(Stat(stat[0], stat[1]), 2))
    if run is not None:
        failed = failures(run)
        total = sum(failed.values())
        text = "0" if not total else "; ".join(f"{LABELS.get(k, k)} {n}"
                                              for k, n in failed.items())
        cells.append(_cell(text, total))
    else:
        cells.append(_cell("–"))
    macs = macs_per_second(entry)
    cells.append(_cell("–" if entry.params_m is None else f"{entry.params_m:.3g}",
                       entry.params_m))
    cells.append(_cell("–" if macs is None else f"{macs:.3g}", macs))
    cells.append(_cell("–" if entry.latency_ms is None else f"{entry.latency_ms:.1f}",
                       entry.latency_ms))
    if run is not None:
        stamp = {k: run.summary[k] for k in PROVENANCE_KEYS if k in run.summary}
        if run.profile is not None:
            stamp["profile"] = run.profile
        stamp["results_folder"] = str(run.folder)
        prov = _details("provenance", json.dumps(stamp, indent=1, default=str))
    elif kind == "reported":
        prov = _details("source", citation or "recipes/<corpus>/reported.csv")
    else:
        prov = _details("how", "ours − reported, per metric (means)")
    cells.append(f'<td data-v="">{prov}</td>')
    return f'<tr class="{kind}">' + "".join(cells) + "</tr>"


def leaderboard(entries: list[Entry], runs: list[Run],
                citations: dict[tuple[str, str], str]) -> str:
    """One sortable table per dataset; our rows carry class ``ours``."""
    by_id = {id(r.entry): r for r in runs}
    with_dnsmos = any(dnsmos_stat(r) for r in runs)
    head = ["Method"] + [label for _, label in QUALITY]
    head += ["DNSMOS OVRL*"] if with_dnsmos else []
    head += ["Failed", "Params (M)", "MACs (G/s)", "Latency (ms)", "Provenance"]
    parts = []
    for dataset in dict.fromkeys(e.dataset for e in entries):
        rows = [_row(e, by_id.get(id(e)), citations.get((e.method, e.dataset)), with_dnsmos)
                for e in entries if e.dataset == dataset]
        ours = sum(1 for e in entries if e.dataset == dataset and id(e) in by_id)
        parts.append(
            f'<h3>{escape(dataset)} <span class="muted">({ours} of ours, '
            f'{len(rows) - ours} published/Δ)</span></h3><div class="wrap">'
            f'<table class="lb" data-dataset="{escape(dataset, quote=True)}"><thead><tr>'
            + "".join(f"<th>{escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    note = ('<p class="muted">Mean ± 95% bootstrap CI half-width over targets. Failed: values '
            'that could not be computed (NaN with a reason in results.csv), per metric. MACs per '
            '1 s of input. Click a header to sort.')
    if with_dnsmos:
        note += (' *DNSMOS OVRL is a reference-free 1–5 quality prediction: it rewards clean-'
                 'sounding audio even when it is the wrong speaker; read it beside SI-SNRi.')
    return "".join(parts) + note + "</p>"


def _clip_html(clip: Clip) -> str:
    out = [f'<div class="clip"><b>{escape(clip.label)}</b>']
    if clip.audio:
        out.append(f'<audio controls preload="none" src="{escape(clip.audio, quote=True)}">'
                   "</audio>")
    if clip.spectrogram:
        out.append(f'<img loading="lazy" src="{escape(clip.spectrogram, quote=True)}" '
                   f'alt="spectrogram: {escape(clip.label, quote=True)}">')
    if clip.note:
        out.append(f'<div class="note">{escape(clip.note)}</div>')
    if clip.scores:
        rows = []
        for key, value in clip.scores.items():
            reason = clip.errors.get(key)
            text = fmt(value) + (f" ({reason})" if reason else "")
            rows.append(f"<tr><td>{escape(LABELS.get(key, key))}</td><td>{escape(text)}</td></tr>")
        out.append("<table>" + "".join(rows) + "</table>")
    return "".join(out) + "</div>"


def example_browser(examples: list[Example]) -> str:
    if not examples:
        return "<p>No examples: the prepared data of the first result was not found.</p>"
    parts = []
    for ex in examples:
        lips = (f'<p>Lip ROIs ({escape(ex.target)}):<br><img src="{escape(ex.lips, quote=True)}" '
                f'alt="lip ROI strip"></p>' if ex.lips else "")
        clips = [ex.mixture, ex.reference] + ex.estimates
        parts.append(f'<div class="ex" id="ex-{escape(ex.mixture_id, quote=True)}-'
                     f'{escape(ex.target, quote=True)}"><h3>{escape(ex.mixture_id)}, target '
                     f'{escape(ex.target)} <span class="muted">({escape(ex.why)})</span></h3>'
                     f'{lips}<div class="clips">' + "".join(_clip_html(c) for c in clips)
                     + "</div></div>")
    return "".join(parts)


def page(title: str, table: str, pareto: str | None, pareto_note: str,
         distributions: list[tuple[str, str]], examples: str, footer: str) -> str:
    figs = "".join(f'<figure><img loading="lazy" src="{escape(src, quote=True)}" '
                   f'alt="{escape(label, quote=True)} distribution"><figcaption>'
                   f"{escape(label)}: per-target empirical CDF</figcaption></figure>"
                   for label, src in distributions)
    pareto_html = (f'<img class="pareto" src="{escape(pareto, quote=True)}" alt="Pareto plot">'
                   if pareto else f"<p>{escape(pareto_note)}</p>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav><a href=\"#leaderboard\">Leaderboard</a>"
        '<a href="#efficiency">Efficiency</a><a href="#distributions">Distributions</a>'
        '<a href="#examples">Listen</a></nav>'
        f'<h2 id="leaderboard">Leaderboard</h2>{table}'
        f'<h2 id="efficiency">Quality vs. compute</h2><div class="figs">{pareto_html}</div>'
        f'<h2 id="distributions">Per-utterance distributions</h2><div class="figs">{figs}</div>'
        f'<h2 id="examples">Listen: examples</h2>{examples}'
        f'<footer class="muted"><p>{escape(footer)}</p></footer>'
        f"<script>{JS}</script></body></html>")
