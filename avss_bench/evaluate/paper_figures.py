"""What the paper figures share (the Pareto plot, the robustness figure): sizes and fonts of a
conference paper, and the file formats they are written in.

A figure is drawn at its printed size with 7-pt text, so it is placed in a paper unscaled: one
column is 3.15 in (it fits the column of LaTeX's own two-column article, 3.18 in, and of the
IEEE and Interspeech templates), the full text width 6.5 in (the article's; IEEE's is 7.16 in).
PDF embeds its fonts as TrueType (Type 42, as publishers ask) and SVG keeps them as outlines, so
both look the same everywhere. Files are written atomically and carry no date, so the same
results give the same bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from avss_bench.core.atomic import atomic_path  # noqa: E402
from avss_bench.core.errors import AvssError  # noqa: E402

#: inches: one column of a two-column paper, and the full text width
ONE_COLUMN = 3.15
TWO_COLUMNS = 6.5
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300

STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "legend.fontsize": 6, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4, "lines.linewidth": 1.0, "lines.markersize": 4,
    "grid.linewidth": 0.4, "grid.alpha": 0.35, "legend.frameon": False,
    "pdf.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "avss-bench",
    "savefig.dpi": PNG_DPI,
}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings of every paper figure, for the figures drawn inside."""
    with plt.rc_context(STYLE):
        yield


def figure_format(path: Path) -> str:
    """The format a figure path asks for by its extension (png, pdf or svg)."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise AvssError(f"a figure is written as {', '.join('.' + f for f in FORMATS)}; "
                        f"not '{Path(path).suffix or 'no extension'}'", path)
    return kind


def save_figure(fig: Figure, path: Path, dpi: int | None = None) -> Path:
    """Write `fig` in the format of `path`'s extension, atomically; closes the figure."""
    kind = figure_format(path)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None}}[kind]
    try:
        with paper_style(), atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind, dpi=dpi or PNG_DPI, metadata=metadata)
    except OSError as err:
        raise AvssError(f"cannot write the figure: {err.strerror or err}", path) from err
    finally:
        plt.close(fig)
    return Path(path)
