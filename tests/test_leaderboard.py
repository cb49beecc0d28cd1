"""Leaderboard: one table per test set, published rows only beside the official test set,
latency columns by device, markdown/latex/csv, the Pareto plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.corpora.registry import corpora
from avss_bench.corpora.testsets import describe, official_test_set
from avss_bench.evaluate.leaderboard import (
    collect,
    group_entries,
    read_reported,
    render,
    table_rows,
)
from avss_bench.io.testset import condition_of

OFFICIAL = official_test_set("lrs2")  # what the shipped fingerprint names
LRS2_TT = corpora.get("lrs2").official_fingerprints["tt"]
# what `prepare` records for the other lists (the same `describe`)
GIVEN = describe("lrs2", "tt", fingerprint="a" * 64, base_fingerprint="a" * 64, n=5,
                 speakers=2, origin="file", listed=5)
GENERATED = describe("lrs2", "tt", fingerprint="b" * 64, base_fingerprint="b" * 64, n=4,
                     speakers=2, origin="generated", listed=4, seed=0)
PARTIAL = describe("lrs2", "tt", fingerprint="c" * 64, base_fingerprint="c" * 64, n=5,
                   speakers=2, origin="official", listed=3000)
CPU_PROFILE = {"params_separator": 3036670, "macs_separator_g": 17.1, "seconds": 1,
               "latency_ms_median": 812.3, "device": "cpu", "device_name": "Test CPU",
               "threads": 1}


def _summary(folder: Path, model: str, si: float, profile: dict | None = None,
             test_set=OFFICIAL, **extra: object) -> None:
    folder.mkdir(parents=True)
    metrics = {"si_snr_i": {"mean": si, "ci95": [si - 0.5, si + 0.5], "n": 6000, "n_failed": 0},
               "sdr_i": {"mean": si + 0.3, "ci95": [si - 0.1, si + 0.7], "n": 6000,
                         "n_failed": 0},
               "pesq": {"mean": 3.0, "ci95": [2.9, 3.1], "n": 6000, "n_failed": 2},
               "stoi": {"mean": 0.912, "ci95": [0.91, 0.914], "n": 6000, "n_failed": 0}}
    (folder / "summary.json").write_text(json.dumps(
        {"model": model, "data": "/data/lrs2", "split": "tt", "metrics": metrics,
         "num_targets": 6000, "params_separator": 3036670,
         "test_set": None if test_set is None else test_set.to_json(), **extra}))
    if profile:
        (folder / "profile.json").write_text(json.dumps(profile))


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    _summary(tmp_path / "iianet", "iianet", 15.8, CPU_PROFILE)
    _summary(tmp_path / "ctcnet", "ctcnet", 14.1,
             {"params_separator": 7147357, "macs_separator_g": 83.35, "seconds": 1})
    return tmp_path


def _rows(group) -> dict[str, dict[str, str]]:
    header, body = table_rows(group, with_ci=False)
    return {row[0]: dict(zip(header, row, strict=True)) for row in body}


def test_official_test_set_gets_published_rows_and_the_difference(results: Path) -> None:
    assert OFFICIAL is not None and OFFICIAL.fingerprint == LRS2_TT
    groups = group_entries(collect([results]), reported=True)
    assert [g.test_set.label for g in groups] == ["LRS2-2Mix"]  # no other corpus's rows
    names = [e.method for e in groups[0].entries]
    i = names.index("IIANet")
    assert names[i:i + 3] == ["IIANet", "IIANet (reported)", "IIANet Δ (ours − reported)"]
    assert "CTCNet Δ (ours − reported)" in names and "AVConvTasNet (reported)" in names
    delta = next(e for e in groups[0].entries if e.method == "IIANet Δ (ours − reported)")
    assert delta.stats["si_snr_i"].mean == pytest.approx(15.8 - 16.0)
    assert delta.stats["sdr_i"].mean == pytest.approx(16.1 - 16.2)
    text = render(groups)
    assert text.startswith("Test set: LRS2-2Mix (the official LRS2-2Mix test list; 3000 "
                           f"mixtures, fingerprint {LRS2_TT[:12]})")
    assert "No published rows" not in text
    latex = render(groups, fmt="latex")
    assert r"\begin{tabular}" in latex and r"$\pm$" in latex and "LRS2-2Mix" in latex


@pytest.mark.parametrize(("test_set", "why"), [
    (GIVEN, "LRS2, given list, 5 of 5 mixtures: not the official LRS2-2Mix test set"),
    (GENERATED, "LRS2, generated list (seed 0), 4 mixtures: not the official LRS2-2Mix test "
                "set"),
    (PARTIAL, "LRS2, 5 of 3000 mixtures of the official LRS2-2Mix test list: not the official "
              "LRS2-2Mix test set"),
    (condition_of(OFFICIAL, {"spec": "zero:30", "seed": 0}),
     "LRS2-2Mix + visual zero:30, seed 0: a condition of LRS2-2Mix, not the published test "
     "set")])
def test_other_test_sets_are_never_beside_published_rows(tmp_path: Path, test_set,
                                                         why: str) -> None:
    _summary(tmp_path / "iianet", "iianet", 15.8, test_set=test_set)
    groups = group_entries(collect([tmp_path]), reported=True)
    assert len(groups) == 1 and groups[0].test_set.label == test_set.label
    assert [e.method for e in groups[0].entries] == ["IIANet"]
    assert groups[0].notes == [f"No published rows: {why}."]
    result = CliRunner().invoke(main, ["table", str(tmp_path), "--reported"])
    assert result.exit_code == 0 and f"No published rows: {why}." in result.output
    assert "(reported)" not in result.output and "Δ" not in result.output


def test_results_share_a_table_only_on_equal_fingerprints(tmp_path: Path) -> None:
    _summary(tmp_path / "official", "iianet", 15.8)
    _summary(tmp_path / "given", "iianet", 9.1, test_set=GIVEN)
    _summary(tmp_path / "zero30", "iianet", 12.0,
             test_set=condition_of(OFFICIAL, {"spec": "zero:30", "seed": 0}))
    _summary(tmp_path / "old", "ctcnet", 14.1, test_set=None)  # made before records
    groups = group_entries(collect([tmp_path]))  # folders in order; a condition after its base
    labels = [g.test_set.label for g in groups]
    assert labels[:3] == ["LRS2, given list, 5 of 5 mixtures", "LRS2-2Mix",
                          "LRS2-2Mix + visual zero:30, seed 0"]
    assert labels[3].startswith("unrecorded test set (")
    assert all(len(g.entries) == 1 for g in groups)  # four sets, four tables
    assert groups[2].heading.startswith(
        "Test set: LRS2-2Mix + visual zero:30, seed 0 (a condition of LRS2-2Mix, fingerprint "
        f"{LRS2_TT[:12]};")
    csv = render(groups, fmt="csv").splitlines()
    assert csv[0].startswith("Test set,Fingerprint,Method,SI-SNRi,")
    assert csv[2].startswith(f"LRS2-2Mix,{LRS2_TT},IIANet,")


def test_markdown_columns_targets_and_latency_device(results: Path) -> None:
    groups = group_entries(collect([results]))
    lines = render(groups).splitlines()
    assert lines[2] == ("| Method | SI-SNRi | SDRi | PESQ | STOI | Targets (failed) | Params (M) "
                        "| MACs (G per 1 s) | Params w/ visual enc. (M) | MACs w/ visual enc. "
                        "(G per 1 s) | Latency (ms; ours: CPU Test CPU, 1 thread, batch 1 x 1 "
                        "s) |")
    iianet = next(line for line in lines if line.startswith("| IIANet |"))
    assert "15.80 ± 0.50" in iianet and "3.04" in iianet and "17.1" in iianet
    assert "3.00 ± 0.10 (2 failed)" in iianet and "| 6000 (2 failed) |" in iianet
    assert iianet.endswith("| 812.3 |")


def test_our_cpu_and_published_gpu_latencies_never_share_a_column(results: Path) -> None:
    groups = group_entries(collect([results]), reported=True)
    header, _ = table_rows(groups[0], with_ci=False)
    latency = [h for h in header if h.startswith("Latency")]
    assert latency == ["Latency (ms; ours: CPU Test CPU, 1 thread, batch 1 x 1 s)",
                       "Latency (ms; published: GPU; GPU model, batch and input length not "
                       "stated)"]
    rows = _rows(groups[0])
    assert rows["IIANet"][latency[0]] == "812.3" and rows["IIANet"][latency[1]] == "–"
    assert rows["IIANet (reported)"][latency[0]] == "–"
    assert rows["IIANet (reported)"][latency[1]] == "110.1"
    assert rows["Dolphin (reported)"][latency[1]] == "33.2"


def test_cli_table_writes_csv_and_a_pareto_panel_per_test_set(results: Path,
                                                              tmp_path: Path) -> None:
    _summary(results / "given", "iianet", 9.1, CPU_PROFILE, test_set=GIVEN)
    png = tmp_path / "pareto.png"
    out = CliRunner().invoke(main, ["table", str(results), "--format", "csv", "--reported",
                                    "--plot", str(png)])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0].startswith("Test set,Fingerprint,Method,SI-SNRi,SDRi")
    assert "No published rows: LRS2, given list, 5 of 5 mixtures" in out.output  # stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # one figure, a panel per set
    from avss_bench.evaluate.pareto import panels

    titles = list(panels(group_entries(collect([results]), reported=True)))
    assert titles == ["LRS2-2Mix", "LRS2, given list, 5 of 5 mixtures"]


def test_no_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AvssError, match="no summary.json found"):
        collect([tmp_path])


def test_duplicates_are_both_shown_labelled_by_run(tmp_path: Path) -> None:
    _summary(tmp_path / "a" / "iianet", "iianet", 15.8)
    _summary(tmp_path / "b" / "iianet", "iianet", 12.1)
    text = render(group_entries(collect([tmp_path])), with_ci=False)
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


def test_reported_alone_without_results(tmp_path: Path) -> None:
    for args in (["table", "--reported"], ["table", str(tmp_path / "missing"), "--reported"],
                 ["table", str(tmp_path), "--reported", "--no-ci"]):
        out = CliRunner().invoke(main, args)
        assert out.exit_code == 0, out.output
        rows = {line.split(" | ")[0].lstrip("| "): line for line in out.output.splitlines()}
        assert "Dolphin (reported)" in rows and "RTFS-Net-12 (reported)" in rows
        assert "AV-Mossformer2 (reported)" in rows and "IIANet (reported)" in rows
        headings = [line for line in out.output.splitlines() if line.startswith("Test set:")]
        assert [h.split(" (")[0] for h in headings] == [
            "Test set: LRS2-2Mix", "Test set: LRS3-2Mix", "Test set: VoxCeleb2-2Mix"]
    no_args = CliRunner().invoke(main, ["table"])
    assert no_args.exit_code == 2 and "--reported" in no_args.output  # a usage error


def test_published_latency_and_digits_are_kept() -> None:
    reported = {e.method: e for e in read_reported(OFFICIAL)}
    assert reported["Dolphin"].latency_ms == pytest.approx(33.24)
    assert reported["AV-Mossformer2"].latency_ms == pytest.approx(62.3)
    assert reported["RTFS-Net-4"].latency_ms is None  # device not stated: no GPU latency
    assert read_reported(GIVEN) == [] and read_reported(PARTIAL) == []
    rows = _rows(group_entries([], reported=True)[0])
    mossformer = rows["AV-Mossformer2 (reported)"]
    assert mossformer["Params (M)"] == "55.87" and mossformer["SI-SNRi"] == "15.10"
    assert rows["CTCNet (reported)"]["MACs (G)"] == "167.2 (per 2 s)"
    assert rows["CTCNet (reported)"]["Params (M)"] == "7.0"
    assert rows["Dolphin (reported)"]["MACs (G)"] == "8.51 (per 1 s)"
    assert rows["Dolphin (reported)"]["Targets (failed)"] == "–"


def test_dolphin_and_rtfsnet_rows_meet_their_published_rows(tmp_path: Path) -> None:
    profile = {"params_separator": 740210, "params_total": 740210 + 11186688, "seconds": 2,
               "macs_separator_g": 56.67, "macs_separator_1s_g": 27.75,
               "macs_total_1s_g": 35.65}
    _summary(tmp_path / "rtfs12", "rtfsnet", 14.7, profile, config={"repeats": 12})
    _summary(tmp_path / "rtfs4", "rtfsnet", 13.9, config={"repeats": 4})
    _summary(tmp_path / "dolphin", "dolphin", 16.5)
    group = group_entries(collect([tmp_path]), reported=True)[0]
    names = [e.method for e in group.entries]
    for method in ("Dolphin", "RTFS-Net-4", "RTFS-Net-12"):
        assert f"{method} Δ (ours − reported)" in names
    delta = next(e for e in group.entries if e.method == "RTFS-Net-12 Δ (ours − reported)")
    assert delta.stats["si_snr_i"].mean == pytest.approx(14.7 - 14.9)
    rows = _rows(group)
    ours = rows["RTFS-Net-12"]
    assert ours["Params (M)"] == "0.74" and ours["Params w/ visual enc. (M)"] == "11.93"
    assert ours["MACs (G)"] == "27.75 (per 1 s)" and ours["MACs w/ visual enc. (G)"] == \
        "35.65 (per 1 s)"
    assert rows["RTFS-Net-12 (reported)"]["MACs (G)"] == "56.4 (per 2 s)"
