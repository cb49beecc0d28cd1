"""Published numbers (recipes/<corpus>/reported.csv): parseable, sourced, Dolphin's table rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from avss_bench.corpora.testsets import official_test_set
from avss_bench.evaluate.leaderboard import read_reported

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CORPORA = ("lrs2", "lrs3", "vox2")
COLUMNS = ["method", "si_snr_i", "sdr_i", "pesq", "params_m", "macs_g", "macs_seconds",
           "latency_ms", "latency_device", "latency_setup", "source"]
NUMERIC = COLUMNS[1:8]
# Dolphin paper (arXiv 2509.23610), main comparison table: SI-SNRi, SDRi, PESQ.
DOLPHIN = {"lrs2": (16.8, 16.9, 3.29), "lrs3": (18.8, 18.9, 3.36), "vox2": (14.6, 15.1, 3.17)}
# Every model of that table, under the names our CSVs use (RTFS-Net's row is R = 12).
DOLPHIN_TABLE = {"AVConvTasNet", "VisualVoice", "AVLiT-8", "CTCNet", "RTFS-Net-12", "IIANet",
                 "AV-Mossformer2", "Swift-Net", "Dolphin"}


def _rows(corpus: str) -> list[dict[str, str]]:
    with (RECIPES / corpus / "reported.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_row_parses_and_names_its_source(corpus: str) -> None:
    rows = _rows(corpus)
    methods = [row["method"] for row in rows]
    assert len(methods) == len(set(methods)), "one row per method (the table keys on it)"
    for row in rows:
        assert row["method"].strip() and row["source"].strip(), row
        assert None not in row, f"extra cells in {row['method']}"
        values = {key: float(row[key]) for key in NUMERIC if row[key]}
        if "macs_g" in values:  # a MACs figure means nothing without its input length
            assert values.get("macs_seconds") in (1.0, 2.0), row["method"]
        if "latency_ms" in values:  # nor a latency without the device it was measured on
            assert row["latency_device"] == "GPU" and row["latency_setup"], row["method"]
        else:
            assert not row["latency_device"] and not row["latency_setup"], row["method"]
        if "pesq" in values:
            assert 1.0 <= values["pesq"] <= 4.5, row["method"]
        for key in ("si_snr_i", "sdr_i"):
            if key in values:
                assert 0 < values[key] < 30, (row["method"], key)


@pytest.mark.parametrize("corpus", CORPORA)
def test_dolphin_table_is_complete_with_the_published_numbers(corpus: str) -> None:
    rows = {row["method"]: row for row in _rows(corpus)}
    assert DOLPHIN_TABLE <= set(rows)
    dolphin = rows["Dolphin"]
    assert (float(dolphin["si_snr_i"]), float(dolphin["sdr_i"]),
            float(dolphin["pesq"])) == DOLPHIN[corpus]
    # Without the visual encoder, per 1 s; the with-encoder figures are kept in the source.
    assert (float(dolphin["params_m"]), float(dolphin["macs_g"]),
            float(dolphin["macs_seconds"])) == (6.22, 8.51, 1.0)
    assert "7.00 M / 10.89 G" in dolphin["source"]
    for name in ("RTFS-Net-4", "RTFS-Net-6", "RTFS-Net-12"):
        assert rows[name]["macs_seconds"] == "2" and "2309.17189" in rows[name]["source"]


@pytest.mark.parametrize("corpus", CORPORA)
def test_leaderboard_reads_every_row(corpus: str) -> None:
    entries = {e.method: e for e in read_reported(official_test_set(corpus))}
    assert set(entries) == {row["method"] for row in _rows(corpus)}
    dolphin = entries["Dolphin"]
    assert [dolphin.stats[k].mean for k in ("si_snr_i", "sdr_i", "pesq")] == list(
        DOLPHIN[corpus])
    assert dolphin.macs_seconds == 1.0 and entries["CTCNet"].macs_seconds == 2.0
