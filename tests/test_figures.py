"""The paper figures and the LaTeX table: the Pareto figure (published rows only, and results
like the demo's beside them), the robustness figure, `--plot` formats, `--format latex` compiled
by a real LaTeX. Each figure is looked at through the extents matplotlib reports
(`figure_checks`): no overlapping text, no label on a marker, no empty panel, units on axes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.collections import PathCollection
from matplotlib.ticker import NullFormatter

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.corpora.testsets import official_test_set
from avss_bench.evaluate.label_placement import Marker, place_labels
from avss_bench.evaluate.latex import latex_table, tex_escape
from avss_bench.evaluate.leaderboard import Entry, Group, Stat, collect, group_entries, render
from avss_bench.evaluate.pareto import (
    frontier,
    marker_area,
    panels,
    pareto_csv,
    pareto_figure,
)
from avss_bench.io.testset import TestSet
from avss_bench.robustness.plot import robustness_figure

sys.path.insert(0, str(Path(__file__).parent))
from figure_checks import assert_no_overlaps, compile_latex, look  # noqa: E402

PARETO_UNITS = {"SI-SNRi": "(dB)", "MACs": "(G per 1 s"}
ROBUSTNESS_UNITS = {"SI-SNRi": "(dB)", "PESQ": "(MOS-LQO)", "frames zeroed": "(%)",
                    "audio-visual offset": "(frames)", "frame rate": "(fps)", "SNR": "(dB)",
                    "leak": "(dB"}


def _metric(mean: float, half: float) -> dict:
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": 10, "n_failed": 0}


#: the demo's test set as `prepare` records it (manifests/demo/tt.testset.json)
DEMO_SET = TestSet.from_json(json.loads(
    (Path(__file__).parents[1] / "manifests" / "demo" / "tt.testset.json").read_text()))


def published() -> list[Group]:
    """The published rows alone: the three official test sets (`table --reported`)."""
    return group_entries([], reported=True)


def demo_like_results(root: Path, test_set: TestSet = DEMO_SET) -> Path:
    """Two results shaped like the demo's: the unprocessed mixture (no profile, so no point on
    the Pareto figure) and a profiled demo-size model, on the demo test set."""
    for name, si, profile in (("mixture", 0.0, None),
                              ("iianet-demo", -4.84, {"params_separator": 113862,
                                                      "params_total": 131046, "seconds": 1.0,
                                                      "macs_separator_1s_g": 0.0606,
                                                      "macs_total_1s_g": 0.0767,
                                                      "latency_ms_median": 482.7})):
        folder = root / name
        folder.mkdir(parents=True)
        metrics = {"si_snr_i": _metric(si, 1.6), "sdr_i": _metric(si + 2, 1.0),
                   "pesq": _metric(1.1, 0.05), "stoi": _metric(0.7, 0.08)}
        (folder / "summary.json").write_text(json.dumps(
            {"model": name, "data": str(root / "prepared"), "split": "tt", "metrics": metrics,
             "num_targets": 10, "test_set": test_set.to_json()}))
        if profile:
            (folder / "profile.json").write_text(json.dumps({"model": name, **profile}))
    return root


def _points(ax) -> list[tuple[float, float]]:
    return [tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection)]


# ---------------------------------------------------------------- the Pareto figure
def test_pareto_of_published_rows_only(tmp_path: Path) -> None:
    groups = published()
    fig, missing = pareto_figure(groups)
    assert missing == []  # every marker labelled
    look(fig, PARETO_UNITS)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in axes] == ["LRS2-2Mix", "LRS3-2Mix",
                                                         "VoxCeleb2-2Mix"]
    assert fig.get_figwidth() == pytest.approx(3.15)  # one column of a paper
    found = panels(groups)
    for ax, points in zip(axes, found.values(), strict=True):
        assert ax.get_xscale() == "log"
        assert len(_points(ax)) == len(points) == 11  # every method with SI-SNRi and MACs
        labels = {t.get_text() for t in ax.texts}
        assert {"Dolphin", "AV-Mossformer2", "RTFS-Net-12", "IIANet"} <= labels
    # the frontier of LRS2-2Mix: AVConvTasNet (6.94 G/s) then Dolphin (8.51 G/s, 16.8 dB)
    assert [p.name for p in frontier(found["LRS2-2Mix"])] == ["AVConvTasNet", "Dolphin"]
    staircase = [line for line in axes[0].get_lines() if line.get_linestyle() != "None"][0]
    assert list(staircase.get_ydata()) == [12.5, 12.5, 16.8, 16.8]
    # marker area grows linearly with Params: AV-Mossformer2 (55.87 M), RTFS-Net-4 (0.7 M)
    sizes = {tuple(c.get_offsets()[0]): c.get_sizes()[0] for c in axes[0].collections}
    assert sizes[(111.79, 15.1)] == pytest.approx(marker_area(55.87))
    assert sizes[(21.9 / 2, 14.1)] == pytest.approx(marker_area(0.7))
    assert marker_area(55.87) - marker_area(0.7) == pytest.approx(
        (marker_area(10.0) - marker_area(0.0)) * 5.517)
    legend_texts = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert {"published", "Pareto frontier", "10 M"} <= legend_texts
    assert "ours (measured here)" not in legend_texts  # nothing of ours is drawn
    plt.close(fig)
    shown = pd.read_csv(pareto_csv(groups, tmp_path / "pareto.csv"))  # what it shows, as CSV
    assert len(shown) == 33 and set(shown["source"]) == {"published"}
    lrs2 = shown[(shown["test_set"] == "LRS2-2Mix") & shown["on_frontier"]]
    assert list(lrs2["method"]) == ["AVConvTasNet", "Dolphin"]
    assert list(lrs2["macs_g_per_1s"]) == [6.94, 8.51]


def test_pareto_of_demo_like_results_beside_published(tmp_path: Path) -> None:
    demo = demo_like_results(tmp_path / "demo")
    official = demo_like_results(tmp_path / "lrs2", official_test_set("lrs2"))
    groups = group_entries(collect([demo, official]), reported=True)
    fig, missing = pareto_figure(groups)
    assert missing == []
    look(fig, PARETO_UNITS)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    # published rows only beside the official set: the demo's panel holds ours alone
    assert [ax.get_title(loc="left") for ax in axes] == [DEMO_SET.label, "LRS2-2Mix"]
    demo = axes[0].collections
    assert len(demo) == 1  # the mixture has no MACs: no point
    assert len(axes[1].collections) == 12  # ours beside the 11 published points
    ours, theirs = demo[0], axes[1].collections[0]  # the largest: published VisualVoice
    assert ours.get_paths()[0] != theirs.get_paths()[0]  # circle vs square
    assert tuple(ours.get_facecolor()[0][:3]) != tuple(theirs.get_facecolor()[0][:3])
    label = axes[0].texts[0]
    assert label.get_text() == "IIANet (demo size)" and label.get_fontweight() == "bold"
    plt.close(fig)


def test_labels_never_overlap_even_when_crowded() -> None:
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(3.4, 2.0), layout="constrained")
    xs, ys = 10 ** rng.uniform(0.9, 1.3, 30), rng.uniform(10, 12, 30)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # matplotlib's own minor labels overlap
    ax.set_xlim(3, 60)
    ax.set_ylim(9, 13)
    for x, y in zip(xs, ys, strict=True):
        ax.scatter([x], [y], s=30)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    markers = [Marker(x, y, np.sqrt(30) / 2) for x, y in zip(xs, ys, strict=True)]
    names = [f"Method-{i}" for i in range(30)]
    placed, missing = place_labels(ax, markers, names, fontsize=6)
    assert len(missing) + sum(p is not None for p in placed) == 30
    assert {n for n, p in zip(names, placed, strict=True) if p is None} == set(missing)
    assert_no_overlaps(fig)  # too crowded for all: the rest are named, never piled up
    plt.close(fig)


def test_plot_writes_png_pdf_svg_by_extension(tmp_path: Path) -> None:
    magic = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
    for kind, head in magic.items():
        path = tmp_path / f"pareto.{kind}"
        out = CliRunner().invoke(main, ["table", "--reported", "--plot", str(path)])
        assert out.exit_code == 0, out.output
        assert path.read_bytes()[:len(head)] == head
    assert b"<svg" in (tmp_path / "pareto.svg").read_bytes()[:2000]
    bad = CliRunner().invoke(main, ["table", "--reported", "--plot", str(tmp_path / "p.jpg")])
    assert bad.exit_code == 1 and "a figure is written as .png, .pdf, .svg" in bad.output
    assert not (tmp_path / "p.jpg").exists()


def test_no_point_to_draw_is_one_line(tmp_path: Path) -> None:
    lrs2 = official_test_set("lrs2")
    with pytest.raises(AvssError, match="no method has both SI-SNRi and MACs"):
        pareto_figure([Group(lrs2, [Entry("Mine", lrs2, {"si_snr_i": Stat(10.0)})])])


# ---------------------------------------------------------------- the robustness figure
ROBUSTNESS_BASE = "LRS2, 40 of 3000 mixtures of the official LRS2-2Mix test list"


def robustness_rows(with_quality: bool = True) -> pd.DataFrame:
    """robustness.csv rows of two models and the unprocessed mixture over visual conditions,
    an SNR corpus and a target-absent corpus, with PESQ and STOI scored."""
    conditions = [("clean", "clean", np.nan), ("zero30", "zero", 30.0),
                  ("zero60", "zero", 60.0), ("offset3", "offset", 3.0),
                  ("fps12.5", "fps", 12.5), ("snr0", "snr", 0.0), ("snr5", "snr", 5.0),
                  ("absent", "absent", np.nan)]
    rows = []
    for model, clean in (("IIANet", 15.0), ("CTCNet", 13.6), ("mixture", 0.0)):
        for name, kind, value in conditions:
            row = {"model": model, "condition": name, "kind": kind, "value": value,
                   "test_set": (ROBUSTNESS_BASE if kind == "clean"
                                else f"{ROBUSTNESS_BASE} + {name}"),
                   "test_set_fingerprint": "a" * 64 if kind == "clean" else name * 8,
                   "base_fingerprint": "a" * 64}
            if kind == "absent":
                leak = 0.0 if model == "mixture" else -9.0
                row.update(si_snr_i=np.nan, leak_db=leak, leak_db_ci_low=leak - 1,
                           leak_db_ci_high=leak + 1)
                rows.append(row)
                continue
            loss = 0.0 if model == "mixture" or kind == "clean" else 0.02 * (value or 1)
            si = clean - loss
            half = 0.0 if model == "mixture" else 0.4
            row.update(si_snr_i=si, si_snr_i_ci_low=si - half, si_snr_i_ci_high=si + half)
            if with_quality:
                pesq = 1.2 if model == "mixture" else 3.0 - loss / 10
                stoi = 0.7 if model == "mixture" else 0.9 - loss / 100
                row.update(pesq=pesq, pesq_ci_low=pesq - 0.05, pesq_ci_high=pesq + 0.05,
                           stoi=stoi, stoi_ci_low=stoi - 0.01, stoi_ci_high=stoi + 0.01)
            rows.append(row)
    return pd.DataFrame(rows)


def _by_metric(fig) -> dict[str, list]:
    """Visible family panels (not the leak panel) grouped by the metric of their row."""
    rows: dict[float, list] = {}
    for ax in fig.axes:
        if ax.get_visible() and ax.get_xlabel() != "target absent":
            rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    return {next(a.get_ylabel() for a in row if a.get_ylabel()): row for row in rows.values()}


def test_robustness_figure_shares_scales_and_draws_ci_clean_and_mixture() -> None:
    fig = robustness_figure(robustness_rows())
    look(fig, ROBUSTNESS_UNITS)
    metrics = _by_metric(fig)
    assert list(metrics) == ["SI-SNRi (dB)", "PESQ (MOS-LQO)", "STOI"]
    for panels_of_metric in metrics.values():
        assert len(panels_of_metric) == 4  # zero, offset, fps, SNR
        assert len({ax.get_ylim() for ax in panels_of_metric}) == 1  # one scale per metric
    zero = metrics["SI-SNRi (dB)"][0]
    assert zero.get_xlabel() == "frames zeroed (%)"
    low, high = zero.get_ylim()
    assert low < 0 < 13.6 - 0.4 and high > 15.4  # the mixture's 0 dB and every CI are in view
    assert len(zero.containers) == 2  # CI bars of IIANet and CTCNet, none for the mixture
    dashed = {round(line.get_ydata()[0], 3) for line in zero.get_lines()
              if line.get_linestyle() == "--"}
    dotted = {round(line.get_ydata()[0], 3) for line in zero.get_lines()
              if line.get_linestyle() == ":"}
    assert dashed == {15.0, 13.6} and dotted == {0.0}  # clean of each model; the mixture
    pesq_zero = metrics["PESQ (MOS-LQO)"][0]
    assert {round(line.get_ydata()[0], 3) for line in pesq_zero.get_lines()
            if line.get_linestyle() == ":"} == {1.2}  # the mixture's own PESQ
    legend = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert {"IIANet", "CTCNet", "95 % CI"} <= legend and "mixture" not in legend
    leak = next(ax for ax in fig.axes if ax.get_xlabel() == "target absent")
    assert leak.get_ylabel() == "leak (dB, lower is better)"
    title = fig.get_suptitle().replace("\n", " ")
    assert title == f"Conditions of {ROBUSTNESS_BASE}"  # the figure names its test set alone
    plt.close(fig)


def test_robustness_figure_of_si_snri_only() -> None:
    fig = robustness_figure(robustness_rows(with_quality=False))
    look(fig, ROBUSTNESS_UNITS)
    assert list(_by_metric(fig)) == ["SI-SNRi (dB)"]
    plt.close(fig)


# ---------------------------------------------------------------- the LaTeX table
def test_latex_table_for_a_paper(tmp_path: Path) -> None:
    demo = demo_like_results(tmp_path / "demo")
    official = demo_like_results(tmp_path / "lrs2", official_test_set("lrs2"))
    groups = group_entries(collect([demo, official]), reported=True)
    text = latex_table(groups)
    assert text.startswith(r"\begin{table*}[t]") and text.endswith(r"\end{table*}")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in text
    caption = text[text.index(r"\caption{"):text.index(r"\label")]
    assert f"test sets Demo, generated list (seed 0), 60 mixtures (fingerprint {DEMO_SET.short})" \
        in caption
    assert "LRS2-2Mix (the official LRS2-2Mix test list; 3000 mixtures" in caption
    assert "No published rows: Demo, generated list (seed 0), 60 mixtures" in caption
    assert "Latency" in caption and r"1\,s" in caption
    # two test sets are too wide side by side here: a block of rows per test set
    body = text[text.index(r"\begin{tabular}"):]
    blocks = [body.index(rf"\textbf{{{name}}}") for name in (DEMO_SET.label, "LRS2-2Mix")]
    ours_at, published_at = body.index("IIANet (demo size)"), body.index(r"\textit{Published}")
    assert blocks[0] < ours_at < blocks[1] < published_at  # ours first, then published
    assert "(reported)" not in text and "ours − reported" not in text
    assert r"\textbf{16.80}" in text  # Dolphin: best LRS2-2Mix SI-SNRi
    assert r"\textbf{0.00}" in text  # the mixture beats the barely trained demo model
    assert r"$-$4.84{\scriptsize$\pm$1.60}" in text  # a minus sign, the CI half-width
    assert r"\scriptsize" not in latex_table(groups, with_ci=False)
    alone = latex_table(published())  # three test sets fit side by side
    assert r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}\cmidrule(lr){8-10}" in alone
    assert r"\textit{Published}" not in alone[alone.index(r"\begin{tabular}"):]


def test_latex_escapes_what_latex_treats_specially() -> None:
    assert tex_escape("My_Net 50% #1 & Δ ± −") == r"My\_Net 50\% \#1 \& $\Delta$ $\pm$ $-$"
    mine = TestSet("e" * 64, "demo", "tt", "given", 5, 2, "my_set [zero:30]")
    text = render([Group(mine, [Entry("Net_{a}&b", mine, {"si_snr_i": Stat(1.0, 0.1)})])],
                  fmt="latex")
    assert r"Net\_\{a\}\&b" in text
    assert "test set my\\_set [zero:30] (fingerprint eeeeeeeeeeee)" in text


def test_latex_compiles_as_is(tmp_path: Path) -> None:
    results = demo_like_results(tmp_path / "results")
    for name, args in (("ours", [str(results)]), ("both", [str(results), "--reported"]),
                       ("published", ["--reported", "--no-ci"])):
        out = CliRunner().invoke(main, ["table", *args, "--format", "latex"])
        assert out.exit_code == 0, out.output
        compile_latex(tmp_path / name, out.output)
