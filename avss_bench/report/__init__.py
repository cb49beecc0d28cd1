"""The results report (`avss-bench report`): leaderboard, plots and an example browser as a
static site that opens from disk."""

from avss_bench.report.site import build_report

__all__ = ["build_report"]
