"""The report page: one self-contained HTML file (inline CSS and a few lines of JS to sort the
tables), linking local PNGs and WAVs only, so it opens from disk with no server or network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from avss_bench.evaluate.leaderboard import (
    Entry,
    Group,
    Stat,
    latency_columns,
    quality_columns,
)
from avss_bench.evaluate.plots import macs_per_second
from avss_bench.io.html import CSS
from avss_bench.report.examples import Clip, Example, fmt
from avss_bench.report.figures import label
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


@dataclass
class Figure:
    """An image of the site, its caption and the CSV of what it shows."""

    src: str
    caption: str
    data: str | None = None


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


def _short(value: Any, limit: int = 16) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def provenance_rows(run: Run) -> list[tuple[str, str]]:
    """What made a result, as (what, value) pairs a reader can scan."""
    s = run.summary
    test_set = run.entry.test_set
    prov = s.get("provenance") if isinstance(s.get("provenance"), dict) else s
    rows = [("test set", f"{test_set.label} ({test_set.kind})"),
            ("fingerprint", test_set.fingerprint),
            ("model", f"{s.get('model')} ({s.get('model_target') or '?'})"),
            ("checkpoint", f"{s.get('checkpoint') or 'none'}"
             + (f", sha256 {_short(s['checkpoint_sha256'])}" if s.get("checkpoint_sha256")
                else "")),
            ("data", f"{s.get('data')}, split {s.get('split')}"),
            ("targets", str(s.get("num_targets"))),
            ("lip rows", str(s.get("lip_rows", 88))),
            ("random init", "yes" if s.get("random_init") else "no")]
    if s.get("visual_condition"):
        rows.append(("visual condition", str(s["visual_condition"].get("spec"))
                     + f", seed {s['visual_condition'].get('seed')}"))
    config = s.get("config") or {}
    if config:
        rows.append(("config", ", ".join(f"{k}={v}" for k, v in config.items())))
    rows += [("avss-bench", str(prov.get("avss_bench_version"))),
             ("git commit", str(prov.get("git_commit"))),
             ("command", str(s.get("command") or prov.get("command") or "")),
             ("seconds", str(s.get("seconds")))]
    libraries = prov.get("library_versions") or {}
    if libraries:
        rows.append(("libraries", ", ".join(f"{k} {v}" for k, v in libraries.items())))
    if prov.get("platform"):
        rows.append(("platform", str(prov["platform"])))
    if run.profile is not None:
        p = run.profile
        rows.append(("profile", f"{p.get('device')} {p.get('device_name', '')}, "
                                f"{p.get('threads')} threads, {p.get('seconds')} s input, "
                                f"latency {p.get('latency_ms_median')} ms"))
    rows.append(("results folder", str(run.folder)))
    return rows


def _provenance(rows: Sequence[tuple[str, str]], what: str = "provenance") -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return (f'<details><summary>{escape(what)}</summary><table class="prov">{body}'
            "</table></details>")


def _row(entry: Entry, run: Run | None, with_dnsmos: bool, hows: list[str]) -> str:
    kind = "ours" if run is not None else ("delta" if entry.source == "delta" else "reported")
    cells = [_cell(entry.method, entry.method)]
    for column in quality_columns():
        cells.append(_stat_cell(entry.stats.get(column.key), column.digits))
    if with_dnsmos:
        stat = dnsmos_stat(run) if run is not None else None
        cells.append(_cell("–") if stat is None else _stat_cell(Stat(stat[0], stat[1]), 2))
    if run is not None:
        failed = failures(run)
        text = str(entry.targets) if entry.targets is not None else "–"
        if failed:
            text += " (failed: " + "; ".join(f"{label(k)} {n}" for k, n in failed.items()) + ")"
        cells.append(_cell(text, entry.targets))
    else:
        cells.append(_cell("–"))
    macs = macs_per_second(entry)
    cells.append(_cell("–" if entry.params_m is None else f"{entry.params_m:.3g}",
                       entry.params_m))
    cells.append(_cell("–" if macs is None else f"{macs:.3g}", macs))
    for how in hows:
        value = entry.latency_ms if entry.latency_how == how else None
        cells.append(_cell("–" if value is None else f"{value:.1f}", value))
    if run is not None:
        prov = _provenance(provenance_rows(run))
    elif kind == "reported":
        prov = _provenance([("source", entry.citation or "recipes/<corpus>/reported.csv")],
                           "source")
    else:
        prov = _provenance([("how", "ours − reported, per metric (means)")], "how")
    cells.append(f'<td data-v="">{prov}</td>')
    return f'<tr class="{kind}">' + "".join(cells) + "</tr>"


def leaderboard(groups: list[Group], runs: list[Run]) -> str:
    """One sortable table per test set, headed by what the set is; our rows carry class
    ``ours``; a set without published rows says why."""
    if not groups:
        return "<p>No evaluation besides the robustness runs below.</p>"
    by_id = {id(r.entry): r for r in runs}
    with_dnsmos = any(dnsmos_stat(r) for r in runs)
    parts = []
    for group in groups:
        hows = latency_columns(group.entries)
        head = ["Method"] + [c.label for c in quality_columns()]
        head += ["DNSMOS OVRL*"] if with_dnsmos else []
        head += ["Targets (failed)", "Params (M)", "MACs (G per 1 s)"]
        head += [f"Latency (ms; {how})" for how in hows] + ["Provenance"]
        rows = [_row(e, by_id.get(id(e)), with_dnsmos, hows) for e in group.entries]
        ours = sum(1 for e in group.entries if id(e) in by_id)
        notes = "".join(f'<p class="muted">{escape(n)}</p>' for n in group.notes)
        parts.append(
            f'<h3>{escape(group.heading)} <span class="muted">({ours} of ours, '
            f'{len(rows) - ours} published/Δ)</span></h3><div class="wrap">'
            f'<table class="lb" data-testset="{escape(group.test_set.fingerprint, quote=True)}">'
            "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>" + notes)
    note = ('<p class="muted">One table per test set: results share a table only when they '
            'were measured on the same mixtures (equal fingerprints); published rows and '
            'ours − reported appear only beside the official test set. Mean ± 95% bootstrap CI '
            'half-width over targets; Targets: scored, and the values that could not be '
            'computed (NaN with a reason in results.csv), per metric. Params and MACs of the '
            'separator without the visual encoder, MACs per 1 s of input. Each latency column '
            'names how it was measured. Click a header to sort.')
    if with_dnsmos:
        note += (' *DNSMOS OVRL is a reference-free 1–5 quality prediction: it rewards clean-'
                 'sounding audio even when it is the wrong speaker; read it beside SI-SNRi.')
    return "".join(parts) + note + "</p>"


def robustness_section(tables: list[tuple[str, str, str, list[str], str]]) -> str:
    """Each robustness folder: its heading, its models x conditions table (HTML), notes, its
    figure (SVG, scrolling sideways on a phone) and the CSV behind both."""
    if not tables:
        return ("<p>No robustness runs among the results (`avss-bench robustness` writes "
                "them).</p>")
    parts = []
    for heading, table, plot, notes, data in tables:
        parts.append(f"<h3>{escape(heading)}</h3><div class=\"wrap\">{table}</div>")
        parts += [f'<p class="muted">{escape(n)}</p>' for n in notes]
        parts.append(f'<div class="figs"><figure class="paper wide"><div class="wrap"><img '
                     f'src="{escape(plot, quote=True)}" alt="robustness figure: '
                     f'{escape(heading, quote=True)}"></div>'
                     + _download((plot, "figure (SVG)"), (data, "robustness.csv"))
                     + "</figure></div>")
    return "".join(parts)


def _download(*links: tuple[str, str]) -> str:
    """Download links under a table or figure: (file, what it is)."""
    return '<p class="muted">Download: ' + ", ".join(
        f'<a href="{escape(href, quote=True)}" download>{escape(what)}</a>'
        for href, what in links) + "</p>"


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
            rows.append(f"<tr><td>{escape(label(key))}</td><td>{escape(text)}</td></tr>")
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


def _figures(figures: list[Figure], empty: str) -> str:
    if not figures:
        return f"<p>{escape(empty)}</p>"
    return "".join(f'<figure><img loading="lazy" src="{escape(f.src, quote=True)}" '
                   f'alt="{escape(f.caption, quote=True)}"><figcaption>{escape(f.caption)}'
                   + (f' (<a href="{escape(f.data, quote=True)}" download>CSV</a>)'
                      if f.data else "")
                   + "</figcaption></figure>" for f in figures)


def page(title: str, table: str, paretos: list[Figure], pareto_note: str,
         distributions: list[Figure], robustness: str, examples: str, footer: str) -> str:
    pareto_html = "".join(
        f'<figure class="paper"><img src="{escape(f.src, quote=True)}" alt="Pareto figure: '
        f'{escape(f.caption, quote=True)}"><figcaption class="muted">{escape(f.caption)}'
        "</figcaption>" + _download((f.src, "figure (SVG)"), *(
            [(f.data, "its points (CSV)")] if f.data else [])) + "</figure>"
        for f in paretos) or f"<p>{escape(pareto_note)}</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav><a href=\"#leaderboard\">Leaderboard</a>"
        '<a href="#efficiency">Efficiency</a><a href="#distributions">Distributions</a>'
        '<a href="#robustness">Robustness</a><a href="#examples">Listen</a></nav>'
        f'<h2 id="leaderboard">Leaderboard</h2>{table}'
        + _download(("data/leaderboard.csv", "the leaderboard (CSV)"))
        + f'<h2 id="efficiency">Quality vs. compute</h2><div class="figs">{pareto_html}</div>'
        f'<h2 id="distributions">Per-utterance distributions</h2><div class="figs">'
        f'{_figures(distributions, "No per-target results.")}</div>'
        f'<h2 id="robustness">Robustness</h2>{robustness}'
        f'<h2 id="examples">Listen: examples</h2>{examples}'
        f'<footer class="muted"><p>{escape(footer)}</p></footer>'
        f"<script>{JS}</script></body></html>")
