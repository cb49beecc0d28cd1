"""Labels of scatter markers placed so that none covers another label or any marker.

Greedy and deterministic: the labels of crowded markers go first; each takes the nearest free
spot around its marker (right of it preferred), on rings of growing distance, then anywhere in
the axes with a thin leader line. A spot is free when its box, as matplotlib measures the text,
stays inside the axes and meets no marker, no label placed before it and no box the caller
reserves; crossing the caller's lines (a Pareto frontier) is allowed but costs extra.
All geometry is in display pixels of the figure as it will be saved, so the layout (size,
margins, limits, scales) must be final before placing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

#: gaps (points) between a marker's edge and its label: near spots first, far ones get a leader
RINGS_PT = (1.5, 4.0, 8.0, 13.0, 20.0, 30.0, 44.0)
LEADER_FROM_PT = 6.0
MARKER_PAD_PT = 1.0
#: what crossing one segment of the caller's lines costs, in points of distance: a label moves
#: up to this much farther to keep the frontier from striking through it
LINE_COST = 30.0


@dataclass
class Marker:
    """A marker in data coordinates with its radius in points (half its width)."""

    x: float
    y: float
    radius_pt: float


@dataclass
class Placed:
    """Where a label went: its annotation and whether it needed a leader line."""

    annotation: Annotation
    leader: bool


def _box_hits(box: Bbox, boxes: Sequence[Bbox]) -> bool:
    return any(box.x0 < b.x1 and b.x0 < box.x1 and box.y0 < b.y1 and b.y0 < box.y1
               for b in boxes)


def _segment_hits_box(p: np.ndarray, q: np.ndarray, box: Bbox) -> bool:
    """Whether segment pq passes through the inside of `box` (Liang-Barsky clipping)."""
    low, high = 0.0, 1.0
    d = q - p
    for delta, start, lo, hi in ((d[0], p[0], box.x0, box.x1), (d[1], p[1], box.y0, box.y1)):
        if abs(delta) < 1e-12:
            if not lo < start < hi:
                return False
            continue
        t0, t1 = (lo - start) / delta, (hi - start) / delta
        low, high = max(low, min(t0, t1)), min(high, max(t0, t1))
        if low >= high:
            return False
    return True


def _segments_cross(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> bool:
    """Whether segments pq and rs cross (proper intersection)."""
    def side(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return (side(p, q, r) * side(p, q, s) < 0) and (side(r, s, p) * side(r, s, q) < 0)


def _lines_cost(box: Bbox, lines: Sequence[np.ndarray]) -> int:
    return sum(_segment_hits_box(line[i], line[i + 1], box)
               for line in lines for i in range(len(line) - 1))


def place_labels(ax: Axes, markers: Sequence[Marker], texts: Sequence[str],
                 reserved: Sequence[Bbox] = (), lines: Sequence[np.ndarray] = (),
                 styles: Sequence[dict[str, object]] | None = None, first: Sequence[int] = (),
                 **text_kw: object) -> tuple[list[Placed | None], list[str]]:
    """Annotate marker i with texts[i]; returns the placements (None: no room) and the texts
    that found no room (the caller says so in the figure).

    Args:
        ax: the axes, laid out at its final size.
        markers: every marker of the axes (also those without a label: they are obstacles).
        texts: one label per marker; an empty string for a marker without a label.
        reserved: boxes (display pixels) no label may touch: labels placed by an earlier
            call, a legend inside the axes.
        lines: polylines in data coordinates, [n, 2] each, that labels should not cross.
        styles: per label, text properties added to `text_kw` (e.g. bold for ours).
        first: labels placed before the others (they get the nearest spots).
        text_kw: passed to ``ax.annotate`` (fontsize, fontweight, colour...).
    """
    styles = list(styles) if styles is not None else [{}] * len(texts)
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72.0
    area = ax.get_window_extent(renderer)
    layout = _Layout(
        bounds=Bbox.from_extents(area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1),
        centres=[np.asarray(c, float) for c in
                 ax.transData.transform([(m.x, m.y) for m in markers])] if markers else [],
        radii=[m.radius_pt * px_per_pt for m in markers],
        labels=list(reserved), px_per_pt=px_per_pt,
        paths=[ax.transData.transform(np.asarray(line, dtype=float)) for line in lines])
    pad = MARKER_PAD_PT * px_per_pt
    layout.markers = [Bbox.from_extents(cx - r - pad, cy - r - pad, cx + r + pad, cy + r + pad)
                      for (cx, cy), r in zip(layout.centres, layout.radii, strict=True)]
    sizes = []
    for text, marker, style in zip(texts, markers, styles, strict=True):
        probe = ax.annotate(text, (marker.x, marker.y), ha="left", va="bottom",
                            **{**text_kw, **style})
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
        probe.remove()
    # crowded markers first: most other markers within 40 points
    near = 40 * px_per_pt
    crowd = [sum(1 for c in layout.centres if 0 < math.dist(c, centre) < near)
             for centre in layout.centres]
    order = sorted((i for i, t in enumerate(texts) if t),
                   key=lambda i: (i not in first, -crowd[i], i))
    placed: list[Placed | None] = [None] * len(texts)
    missing: list[str] = []
    for i in order:
        spot = layout.best_spot(i, sizes[i])
        if spot is None:
            missing.append(texts[i])
            continue
        box, leader = spot
        layout.labels.append(box)
        arrow = None
        if leader:
            layout.leaders.append((layout.centres[i], np.array(box.get_points().mean(0))))
            arrow = {"arrowstyle": "-", "linewidth": 0.4, "color": "0.35", "shrinkA": 1,
                     "shrinkB": markers[i].radius_pt + 0.5}
        dx = (box.x0 - layout.centres[i][0]) / px_per_pt
        dy = (box.y0 - layout.centres[i][1]) / px_per_pt
        annotation = ax.annotate(texts[i], (markers[i].x, markers[i].y), xytext=(dx, dy),
                                 textcoords="offset points", ha="left", va="bottom",
                                 arrowprops=arrow, annotation_clip=False,
                                 **{**text_kw, **styles[i]})
        placed[i] = Placed(annotation, leader)
    return placed, missing


@dataclass
class _Layout:
    """What is already on an axes, in display pixels, and the search for a free label spot."""

    bounds: Bbox
    centres: list[np.ndarray]
    radii: list[float]
    labels: list[Bbox]
    px_per_pt: float
    paths: list[np.ndarray]
    markers: list[Bbox] = field(default_factory=list)
    leaders: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    _cache: np.ndarray | None = None

    def free(self, box: Bbox) -> bool:
        """Inside the axes, on no marker, label or leader line."""
        b = self.bounds
        if box.x0 < b.x0 or box.x1 > b.x1 or box.y0 < b.y0 or box.y1 > b.y1:
            return False
        taken = self._taken()
        if len(taken) and np.any((box.x0 < taken[:, 2]) & (taken[:, 0] < box.x1)
                                 & (box.y0 < taken[:, 3]) & (taken[:, 1] < box.y1)):
            return False
        return not any(_segment_hits_box(p, q, box) for p, q in self.leaders)

    def _taken(self) -> np.ndarray:
        """Markers and labels as an [n, 4] array of (x0, y0, x1, y1), rebuilt when labels
        were added."""
        count = len(self.markers) + len(self.labels)
        if self._cache is None or len(self._cache) != count:
            self._cache = np.array([b.extents for b in self.markers + self.labels]
                                   ).reshape(-1, 4)
        return self._cache

    def leader_cost(self, i: int, box: Bbox) -> float | None:
        """What a leader from marker i to `box` costs: the markers, lines and other leaders it
        crosses; None if it crosses a label."""
        start, end = self.centres[i], np.array(box.get_points().mean(0))
        if any(_segment_hits_box(start, end, label) for label in self.labels):
            return None
        markers = sum(_segment_hits_box(start, end, m) for j, m in enumerate(self.markers)
                      if j != i)
        lines = sum(_segments_cross(start, end, line[k], line[k + 1])
                    for line in self.paths for k in range(len(line) - 1))
        leaders = sum(_segments_cross(start, end, p, q) for p, q in self.leaders)
        return 10.0 * markers + LINE_COST / 3 * lines + 20.0 * leaders

    def best_spot(self, i: int, size: tuple[float, float]) -> tuple[Bbox, bool] | None:
        """The cheapest free box for marker i's label, and whether it needs a leader line."""
        centre, radius = self.centres[i], self.radii[i]
        best: tuple[float, Bbox, bool] | None = None
        for ring, gap_pt in enumerate(RINGS_PT):
            leader = gap_pt > LEADER_FROM_PT
            for side, box in _candidates(centre, radius + gap_pt * self.px_per_pt, size):
                if not self.free(box):
                    continue
                cost = gap_pt + 1.5 * side + LINE_COST * _lines_cost(box, self.paths)
                if leader:
                    crossed = self.leader_cost(i, box)
                    if crossed is None:
                        continue
                    cost += crossed
                if best is None or cost < best[0]:
                    best = (cost, box, leader)
            farther = RINGS_PT[ring + 1] if ring + 1 < len(RINGS_PT) else math.inf
            if best is not None and best[0] <= farther:  # nothing farther can be cheaper
                break
        if best is not None:
            return best[1], best[2]
        # anywhere in the axes, nearest first, with a leader line crossing the fewest markers
        w, h = size
        step = 3 * self.px_per_pt
        b = self.bounds
        spots = [Bbox.from_extents(x, y, x + w, y + h)
                 for x in np.arange(b.x0, b.x1 - w, step) for y in np.arange(b.y0, b.y1 - h, step)]
        spots.sort(key=lambda s: math.dist(s.get_points().mean(0), centre))
        found = []
        for box in spots:
            if self.free(box) and (crossed := self.leader_cost(i, box)) is not None:
                found.append((crossed, len(found), box))
                if len(found) == 40:
                    break
        return (min(found)[2], True) if found else None


def _candidates(centre: np.ndarray, distance: float, size: tuple[float, float]
                ) -> list[tuple[float, Bbox]]:
    """Label boxes `distance` pixels from the centre (beside, above, below, at the corners),
    each with its cost of direction: right of the marker first, left of it last."""
    w, h = size
    cx, cy = centre
    corner = distance / math.sqrt(2)
    spots = [  # (cost, x0, y0)
        (0.0, cx + distance, cy - h / 2), (0.4, cx + distance, cy - h * 0.15),
        (0.4, cx + distance, cy - h * 0.85),
        (1.0, cx - w * 0.15, cy + distance), (1.0, cx - w * 0.15, cy - distance - h),
        (1.2, cx - w / 2, cy + distance), (1.2, cx - w / 2, cy - distance - h),
        (1.4, cx + corner, cy + corner), (1.4, cx + corner, cy - corner - h),
        (1.6, cx - w * 0.85, cy + distance), (1.6, cx - w * 0.85, cy - distance - h),
        (1.8, cx - corner - w, cy + corner), (1.8, cx - corner - w, cy - corner - h),
        (2.0, cx - distance - w, cy - h / 2), (2.2, cx - distance - w, cy - h * 0.15),
        (2.2, cx - distance - w, cy - h * 0.85),
    ]
    return [(cost, Bbox.from_extents(x, y, x + w, y + h)) for cost, x, y in spots]
