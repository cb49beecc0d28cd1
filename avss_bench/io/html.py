"""The look of every HTML page we write (the results report, `separate`'s page): one stylesheet,
inlined into each self-contained page so it opens from disk with no server or network."""

from __future__ import annotations

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 12px;
color:#1b1b1b;background:#fff}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}
nav{display:flex;flex-wrap:wrap;gap:0 1em}.wrap{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{padding:3px 8px;border-bottom:1px solid #e2e2e2;text-align:right;vertical-align:top}
td{white-space:nowrap}th:first-child,td:first-child{text-align:left;white-space:normal}
table.lb th{cursor:pointer;background:#f3f3f3;position:sticky;top:0;user-select:none}
table.lb th:after{content:" \\2195";color:#999;font-size:.8em}
tr.ours td:first-child{font-weight:600}tr.reported{color:#555}tr.delta{color:#777;font-style:italic}
details pre{text-align:left;white-space:pre-wrap;max-width:560px;font-size:.8em;background:#f7f7f7;
padding:6px}
img{max-width:100%;height:auto}.figs{display:flex;flex-wrap:wrap;gap:8px}
.figs figure{margin:0;flex:1 1 440px;max-width:600px;min-width:0}.figs img{width:100%}
.figs figure.paper{flex:1 1 340px;max-width:520px}.figs figure.wide{max-width:960px}
.figs figure.paper img{background:#fff}.figs figure.wide .wrap img{min-width:600px}
.ex{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:1em 0}
.ex h3{overflow-wrap:anywhere}
.clips{display:flex;flex-wrap:wrap;gap:12px}.clip{flex:1 1 300px;max-width:400px}
.clip audio{width:100%}.clip table{font-size:.8em}.note{color:#a33;font-size:.85em}
.muted{color:#666;font-size:.85em}
"""
