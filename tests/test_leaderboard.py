"""Leaderboard: summaries + profiles -> markdown/latex/csv, published numbers, Pareto plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.evaluate.leaderboard import collect, render, table_rows, with_reported


def _summary(folder: Path, model: str, si: float, profile: dict | None = None,
             **extra: object) -> None:
    folder.mkdir(parents=True)
    metrics = {"si_snr_i": {"mean": si, "ci95": [si - 0.5, si + 0.5], "n": 6000, "n_failed": 0},
               "sdr_i": {"mean": si + 0.3, "ci95": [si - 0.1, si + 0.7], "n": 6000,
                         "n_failed": 0},
               "pesq": {"mean": 3.0, "ci95": [2.9, 3.1], "n": 6000, "n_failed": 2},
               "stoi": {"mean": 0.912, "ci95": [0.91, 0.914], "n": 6000, "n_failed": 0}}
    (folder / "summary.json").write_text(json.dumps(
        {"model": model, "data": "/data/lrs2", "split": "tt", "metrics": metrics,
         "params_separator": 3036670, **extra}))
    if profile:
        (folder / "profile.json").write_text(json.dumps(profile))


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    _summary(tmp_path / "iianet", "iianet", 15.8,
             {"params_separator": 3036670, "macs_separator_g": 17.1, "seconds": 1,
              "latency_ms_median": 812.3})
    _summary(tmp_path / "ctcnet", "ctcnet", 14.1,
             {"params_separator": 7147357, "macs_separator_g": 83.35, "seconds": 1})
    return tmp_path


def test_markdown_rows_columns_and_ci(results: Path) -> None:
    text = render(collect([results]))
    lines = text.splitlines()
    assert lines[0] == "Dataset: LRS2-2Mix"
    header = lines[2]
    assert header == ("| Method | SI-SNRi | SDRi | PESQ | STOI | Params (M) | MACs (G per 1 s) "
                      "| Params w/ visual enc. (M) | MACs w/ visual enc. (G per 1 s) "
                      "| Latency (ms) |")
    iianet = next(line for line in lines if line.startswith("| IIANet |"))
    assert "15.80 ± 0.50" in iianet and "3.04" in iianet and "17.1" in iianet
    assert "3.00 ± 0.10 (2 failed)" in iianet and "812.3" in iianet


def test_reported_rows_and_difference(results: Path) -> None:
    entries = with_reported(collect([results]))
    names = [e.method for e in entries]
    assert "IIANet (reported)" in names and "CTCNet Δ (ours − reported)" in names
    delta = next(e for e in entries if e.method == "IIANet Δ (ours − reported)")
    assert delta.stats["si_snr_i"].mean == pytest.approx(15.8 - 16.0)
    assert delta.stats["sdr_i"].mean == pytest.approx(16.1 - 16.2)
    assert "AVConvTasNet (reported)" in names  # published-only methods are kept too
    latex = render(entries, fmt="latex")
    assert latex.startswith(r"\begin{tabular}") and r"$\pm$" in latex


def test_cli_table_writes_csv_and_pareto_png(results: Path, tmp_path: Path) -> None:
    png = tmp_path / "pareto.png"
    out = CliRunner().invoke(main, ["table", str(results), "--format", "csv", "--reported",
                                    "--plot", str(png)])
    assert out.exit_code == 0, out.output
    header = out.output.splitlines()[0]
    assert header.startswith("Method,LRS2-2Mix SI-SNRi,LRS2-2Mix SDRi,LRS2-2Mix PESQ")
    assert "LRS3-2Mix SI-SNRi" in header and "VoxCeleb2-2Mix STOI" in header  # paper's groups
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AvssError, match="no summary.json found"):
        collect([tmp_path])


def test_duplicates_are_both_shown_labelled_by_run(tmp_path: Path) -> None:
    _summary(tmp_path / "a" / "iianet", "iianet", 15.8)
    _summary(tmp_path / "b" / "iianet", "iianet", 12.1)
    text = render(collect([tmp_path]), with_ci=False)
    rows = [line for line in text.splitlines() if line.startswith("| IIANet")]
    assert len(rows) == 2
    assert rows[0].startswith("| IIANet [run: a/iianet] | 15.80 |")
    assert rows[1].startswith("| IIANet [run: b/iianet] | 12.10 |")


def test_display_name_random_init_and_lip_rows_label_rows(tmp_path: Path) -> None:
    _summary(tmp_path / "mine", "my_pkg.net:Net", 9.5, name="MyNet (ours)")
    _summary(tmp_path / "rand", "tiny-av", 0.2, random_init=True)
    _summary(tmp_path / "rel", "iianet", 15.0, lip_rows=50)
    methods = {e.method for e in collect([tmp_path])}
    assert methods == {"MyNet (ours)", "TinyAV (demo) (random init)", "IIANet (lips 50x88)"}


def test_profile_of_another_model_is_an_error(tmp_path: Path) -> None:
    profile = {"model": "ctcnet", "target": "ctcnet:CTCNet", "checkpoint_sha256": None,
               "params_separator": 7147357}
    _summary(tmp_path / "iianet", "iianet", 15.8, profile, model_target="iianet:IIANet",
             checkpoint_sha256="ab" * 32)
    result = CliRunner().invoke(main, ["table", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not a profile of the evaluation beside it: measured ctcnet:CTCNet, evaluated " \
           "iianet:IIANet" in result.output
    profile.update(target="iianet:IIANet", checkpoint_sha256="cd" * 32)
    (tmp_path / "iianet/profile.json").write_text(json.dumps(profile))
    with pytest.raises(AvssError, match="checkpoint sha256 cdcdcdcdcdcd measured, abababababab"):
        collect([tmp_path])
    profile.update(checkpoint_sha256="ab" * 32)
    (tmp_path / "iianet/profile.json").write_text(json.dumps(profile))
    assert collect([tmp_path])[0].params_m == pytest.approx(7.147357)


# ---------------------------------------------------------------- both conventions, published rows
def test_reported_alone_without_results(tmp_path: Path) -> None:
    for args in (["table", "--reported"], ["table", str(tmp_path / "missing"), "--reported"],
                 ["table", str(tmp_path), "--reported", "--no-ci"]):
        out = CliRunner().invoke(main, args)
        assert out.exit_code == 0, out.output
        rows = {line.split(" | ")[0].lstrip("| "): line for line in out.output.splitlines()}
        assert "Dolphin (reported)" in rows and "RTFS-Net-12 (reported)" in rows
        assert "AV-Mossformer2 (reported)" in rows and "IIANet (reported)" in rows
    no_args = CliRunner().invoke(main, ["table"])
    assert no_args.exit_code == 2 and "--reported" in no_args.output  # a usage error


def test_published_latency_and_digits_are_kept() -> None:
    from avss_bench.evaluate.leaderboard import read_reported

    reported = {e.method: e for e in read_reported("LRS2-2Mix")}
    assert reported["Dolphin"].latency_ms == pytest.approx(33.24)
    assert reported["AV-Mossformer2"].latency_ms == pytest.approx(62.3)
    assert reported["RTFS-Net-4"].latency_ms is None  # device not stated: no GPU latency
    header, body = table_rows(with_reported([]), with_ci=False)
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    mossformer = rows["AV-Mossformer2 (reported)"]
    assert mossformer["Params (M)"] == "55.87"
    assert mossformer["LRS2-2Mix SI-SNRi"] == "15.10"
    assert rows["CTCNet (reported)"]["MACs (G)"] == "167.2 (per 2 s)"
    assert rows["CTCNet (reported)"]["Params (M)"] == "7.0"
    assert rows["Dolphin (reported)"]["Latency (ms)"] == "33.2"
    assert rows["Dolphin (reported)"]["MACs (G)"] == "8.51 (per 1 s)"


def test_dolphin_and_rtfsnet_rows_meet_their_published_rows(tmp_path: Path) -> None:
    profile = {"params_separator": 740210, "params_total": 740210 + 11186688, "seconds": 2,
               "macs_separator_g": 56.67, "macs_separator_1s_g": 27.75,
               "macs_total_1s_g": 35.65}
    _summary(tmp_path / "rtfs12", "rtfsnet", 14.7, profile, config={"repeats": 12})
    _summary(tmp_path / "rtfs4", "rtfsnet", 13.9, config={"repeats": 4})
    _summary(tmp_path / "dolphin", "dolphin", 16.5)
    entries = with_reported(collect([tmp_path]))
    names = [e.method for e in entries]
    for method in ("Dolphin", "RTFS-Net-4", "RTFS-Net-12"):
        assert f"{method} Δ (ours − reported)" in names
    delta = next(e for e in entries if e.method == "RTFS-Net-12 Δ (ours − reported)")
    assert delta.stats["si_snr_i"].mean == pytest.approx(14.7 - 14.9)
    header, body = table_rows(entries, with_ci=False)
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    ours = rows["RTFS-Net-12"]
    assert ours["Params (M)"] == "0.74" and ours["Params w/ visual enc. (M)"] == "11.93"
    assert ours["MACs (G)"] == "27.75 (per 1 s)" and ours["MACs w/ visual enc. (G)"] == \
        "35.65 (per 1 s)"
    assert rows["RTFS-Net-12 (reported)"]["MACs (G)"] == "56.4 (per 2 s)"
