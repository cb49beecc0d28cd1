"""Looking at a matplotlib figure the way a reader would, from the extents matplotlib reports:
no text covers another text or a marker, nothing is cut off, no panel is empty, every axis is
labelled (with its unit)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox


def drawn_texts(fig: Figure) -> list[Text]:
    """Every piece of text a draw of the figure puts on the canvas (titles, axis and tick
    labels, annotations, legends), recorded while matplotlib draws it."""
    drawn: dict[int, Text] = {}
    draw = Text.draw

    def record(self: Text, renderer: object) -> None:
        if self.get_visible() and self.get_text().strip():
            drawn[id(self)] = self
        return draw(self, renderer)

    with mock.patch.object(Text, "draw", record):
        fig.canvas.draw()
    return list(drawn.values())


def _overlap(a: Bbox, b: Bbox, tolerance: float = 0.5) -> bool:
    return (a.x0 + tolerance < b.x1 and b.x0 + tolerance < a.x1 and a.y0 + tolerance < b.y1
            and b.y0 + tolerance < a.y1)


def marker_boxes(fig: Figure) -> list[tuple[object, Bbox]]:
    """(axes, box in pixels) of every scatter marker of the figure's axes."""
    boxes = []
    for ax in fig.axes:
        for collection in ax.collections:
            if not isinstance(collection, PathCollection):
                continue
            offsets = collection.get_offset_transform().transform(collection.get_offsets())
            sizes = collection.get_sizes()
            for i, (x, y) in enumerate(offsets):
                half = math.sqrt(sizes[i % len(sizes)]) / 2 * fig.dpi / 72
                boxes.append((ax, Bbox.from_extents(x - half, y - half, x + half, y + half)))
    return boxes


def _text_box(text: Text, renderer: object) -> Bbox:
    """The box of the text itself (an annotation's extent also spans its leader line)."""
    return Text.get_window_extent(text, renderer)


def _crosses(p: np.ndarray, q: np.ndarray, box: Bbox) -> bool:
    """Whether segment pq passes through the inside of `box` (sampled every pixel)."""
    steps = max(2, int(np.hypot(*(q - p))))
    inside = [(box.x0 + 0.5 < x < box.x1 - 0.5 and box.y0 + 0.5 < y < box.y1 - 0.5)
              for x, y in np.linspace(p, q, steps)]
    return any(inside)


def assert_no_overlaps(fig: Figure) -> None:
    """No two texts overlap, no annotation covers a marker, no leader line runs through another
    text, every text is inside the figure."""
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [(t, _text_box(t, renderer)) for t in texts]
    whole = fig.bbox
    for text, box in boxes:
        assert (box.x0 >= whole.x0 - 1 and box.x1 <= whole.x1 + 1 and box.y0 >= whole.y0 - 1
                and box.y1 <= whole.y1 + 1), f"'{text.get_text()}' is cut off by the edge"
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not _overlap(box_a, box_b), \
                f"'{a.get_text()}' overlaps '{b.get_text()}'"
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        for handle in legend.findobj(Line2D):  # a key's marker (a size key's can be large)
            if handle.get_marker() in (None, "None", "") or not handle.get_visible():
                continue
            middle = handle.get_window_extent(renderer).get_points().mean(0)
            half = handle.get_markersize() / 2 * fig.dpi / 72  # one marker, in the middle
            key = Bbox.from_extents(*(middle - half), *(middle + half))
            for text, box in boxes:
                assert not _overlap(key, box), f"a legend key covers '{text.get_text()}'"
    markers = marker_boxes(fig)
    for text, box in boxes:
        if not isinstance(text, Annotation):
            continue
        for _, marker in markers:
            assert not _overlap(box, marker), f"label '{text.get_text()}' covers a marker"
        if text.arrow_patch is not None:
            leader = text.arrow_patch.get_path().vertices  # display pixels
            for other, other_box in boxes:
                if other is text:
                    continue
                for p, q in zip(leader[:-1], leader[1:], strict=True):
                    assert not _crosses(p, q, other_box), \
                        f"the leader of '{text.get_text()}' runs through '{other.get_text()}'"


def assert_panels_have_data(fig: Figure) -> None:
    """Every visible panel draws data: markers, or a line with finite points."""
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        points = sum(len(c.get_offsets()) for c in ax.collections
                     if isinstance(c, PathCollection))
        for line in ax.get_lines():
            if isinstance(line, Line2D) and line.get_marker() not in (None, "None", ""):
                points += int(np.isfinite(np.asarray(line.get_ydata(), float)).sum())
        assert points > 0, f"an empty panel: '{ax.get_title(loc='left') or ax.get_xlabel()}'"


def assert_axes_labelled(fig: Figure, units: dict[str, str]) -> None:
    """Every visible panel has an x label (or shares the one below it) and the panels of each
    row a y label; a label naming a quantity of `units` carries it: {"SI-SNRi": "(dB)"}."""
    visible = [ax for ax in fig.axes if ax.get_visible()]
    for ax in visible:
        shared_x = [o for o in ax.get_shared_x_axes().get_siblings(ax) if o is not ax]
        assert ax.get_xlabel() or any(o.get_xlabel() for o in shared_x), "no x label"
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            for name, unit in units.items():
                if re.match(re.escape(name) + r"\b", label):
                    assert unit in label, f"'{label}' lacks its unit {unit}"
    rows: dict[float, list] = {}
    for ax in visible:
        rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    for row in rows.values():
        assert any(ax.get_ylabel() for ax in row), "a row of panels has no y label"


def look(fig: Figure, units: dict[str, str]) -> None:
    """All checks of this module."""
    assert_no_overlaps(fig)
    assert_panels_have_data(fig)
    assert_axes_labelled(fig, units)


def compile_latex(folder: Path, table: str) -> str:
    """Compile `table` (`table --format latex`) in a two-column article that loads only
    booktabs; asserts it compiles and fits the page width, returns the log."""
    pdflatex = shutil.which("pdflatex")
    assert pdflatex, ("pdflatex is not installed (apt-get install -y --no-install-recommends "
                      "texlive-latex-base texlive-latex-recommended; .ci/run does it)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.tex").write_text(table + "\n")
    (folder / "paper.tex").write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\input{table.tex}\nText.\n\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    log = (folder / "paper.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, "the table is wider than the page"
    assert (folder / "paper.pdf").stat().st_size > 5000
    return log
