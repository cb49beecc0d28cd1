"""The metric registry: every metric's name, function, columns, unit, direction and label.

One place describes a metric; `score`, `evaluate`, `robustness`, `table`, `report` and the plots
read it. Bundled metrics are defined here; a user's metric registers through the entry-point
group ``avss_bench.metrics`` (``name = "package.module:METRIC"``, a :class:`Metric`) and is then
scored, summarised, tabled and plotted like a bundled one.

Every metric function takes the same arguments in the same order:
``fn(estimate [T], reference [T] | None, *, sample_rate, mixture [T] | None)`` and returns a
float (or, for a metric with several columns, a dict of them); it raises
:class:`~avss_bench.metrics.perceptual.MetricError` with a short reason when the value cannot be
computed, which the scorer records as NaN plus that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from avss_bench.core.errors import AvssError

GROUP = "avss_bench.metrics"


@dataclass(frozen=True)
class Column:
    """One value a metric writes per target (``si_snr`` and its improvement ``si_snr_i``)."""

    key: str
    label: str  # in tables and plots: "SI-SNRi"
    unit: str  # "dB", "MOS", "" for a unitless score
    higher_is_better: bool = True
    digits: int = 2

    @property
    def axis_label(self) -> str:
        """``SI-SNRi (dB)``: a plot axis with its unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


@dataclass(frozen=True)
class Metric:
    """A metric: its function and what it needs.

    Attributes:
        name: the ``--metrics`` name (snake_case).
        fn: see the module docstring for the signature.
        columns: the per-target values it writes, first the metric itself; an improvement
            column (``<name>_i``, metric(estimate) - metric(mixture)) when ``improvement``.
        needs_reference: False for reference-free scores (DNSMOS).
        improvement: also score the unprocessed mixture and report the difference.
        sample_rates: the rates it is defined at (empty: any).
        min_samples: shorter signals get NaN with a reason instead of a value.
        default: part of the default ``--metrics`` set.
        in_table: its first column is a leaderboard column (SI-SNRi, SDRi, PESQ, STOI).
        description: one line for ``--help``.
    """

    name: str
    fn: Callable[..., Any]
    columns: tuple[Column, ...]
    needs_reference: bool = True
    improvement: bool = False
    sample_rates: tuple[int, ...] = ()
    min_samples: int = 1
    default: bool = False
    in_table: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)

    @property
    def table_column(self) -> Column:
        """The column a leaderboard shows: the improvement when there is one."""
        return self.columns[-1] if self.improvement else self.columns[0]


class MetricRegistry:
    """Metrics by name: the bundled ones, then those of the ``avss_bench.metrics`` entry points."""

    def __init__(self, bundled: Iterable[Metric]) -> None:
        self._bundled = {metric.name: metric for metric in bundled}
        self._all: dict[str, Metric] | None = None

    def all(self) -> dict[str, Metric]:
        if self._all is None:
            found = dict(self._bundled)
            for ep in entry_points(group=GROUP):
                if ep.name in found:
                    continue
                try:
                    metric = ep.load()
                except Exception as err:  # noqa: BLE001 - a broken plugin is one line
                    raise AvssError(f"cannot load metric plugin '{ep.name}' ({ep.value}): "
                                    f"{err}") from None
                if not isinstance(metric, Metric):
                    raise AvssError(f"metric plugin '{ep.name}' ({ep.value}) is not an "
                                    "avss_bench.metrics.registry.Metric")
                found[ep.name] = metric
            self._all = found
        return self._all

    def names(self) -> list[str]:
        return list(self.all())

    def get(self, name: str) -> Metric:
        metrics = self.all()
        if name not in metrics:
            raise AvssError(f"unknown metric '{name}'; choose from {', '.join(metrics)}")
        return metrics[name]

    def check(self, names: Sequence[str]) -> tuple[str, ...]:
        """Validate ``--metrics`` names before any work; returns them in registry order."""
        metrics = self.all()
        unknown = [name for name in names if name not in metrics]
        if unknown:
            raise AvssError(f"unknown metric(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(metrics)}")
        return tuple(name for name in metrics if name in names)

    def defaults(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.all().values() if m.default)

    def column(self, key: str) -> Column | None:
        """The column a results key belongs to (``si_snr_i``), or None for other keys."""
        for metric in self.all().values():
            for column in metric.columns:
                if column.key == key:
                    return column
        return None

    def table_columns(self) -> list[Column]:
        """The leaderboard's quality columns, in order."""
        return [m.table_column for m in self.all().values() if m.in_table]


def _si_snr(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.si_snr import si_snr

    return float(si_snr(estimate, reference))


def _sdr(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    import numpy as np

    from avss_bench.metrics.bss_eval import ReferenceSet

    refs = ReferenceSet(np.asarray(reference, dtype=np.float64)[None, :])
    return float(refs.target_sdr(np.asarray(estimate, dtype=np.float64)[None, :], [(0, 0)])[0])


def _pesq(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import pesq

    return pesq(reference, estimate, sample_rate)


def _stoi(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import stoi

    return stoi(reference, estimate, sample_rate)


def _estoi(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import estoi

    return estoi(reference, estimate, sample_rate)


def _dnsmos(estimate: Any, reference: Any = None, *, sample_rate: int,
            mixture: Any = None) -> dict[str, float]:
    from avss_bench.metrics.dnsmos import dnsmos

    return dnsmos(estimate, sample_rate)


BUNDLED = (
    Metric("si_snr", _si_snr, (Column("si_snr", "SI-SNR", "dB"),
                               Column("si_snr_i", "SI-SNRi", "dB")),
           improvement=True, default=True, in_table=True,
           description="scale-invariant SNR (asteroid/SpeechBrain definition)"),
    Metric("sdr", _sdr, (Column("sdr", "SDR", "dB"), Column("sdr_i", "SDRi", "dB")),
           improvement=True, default=True, in_table=True,
           description="BSS-Eval v3 SDR, 512-tap filter (as mir_eval)"),
    Metric("pesq", _pesq, (Column("pesq", "PESQ", "MOS-LQO"),), sample_rates=(8000, 16000),
           min_samples=4000, default=True, in_table=True,
           description="ITU-T P.862, wide-band at 16 kHz (pesq package)"),
    Metric("stoi", _stoi, (Column("stoi", "STOI", "", digits=3),), default=True, in_table=True,
           description="short-time objective intelligibility (pystoi)"),
    Metric("estoi", _estoi, (Column("estoi", "ESTOI", "", digits=3),),
           description="extended STOI (pystoi)"),
    Metric("dnsmos", _dnsmos, (Column("dnsmos_sig", "DNSMOS SIG", "MOS"),
                               Column("dnsmos_bak", "DNSMOS BAK", "MOS"),
                               Column("dnsmos_ovrl", "DNSMOS OVRL", "MOS")),
           needs_reference=False, sample_rates=(16000,),
           description="reference-free DNSMOS P.835 (speechmos ONNX models)"),
)

metric_registry = MetricRegistry(BUNDLED)
