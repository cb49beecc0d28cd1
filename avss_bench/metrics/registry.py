"""The metric registry: every metric's name, function, columns, unit, direction and label.

One place describes a metric; `score`, `evaluate`, `robustness`, `table`, `report` and the plots
read it. Bundled metrics are defined here; a user's metric registers through the entry-point
group ``avss_bench.metrics`` (``name = "package.module:METRIC"``, a :class:`Metric`) and is then
scored, summarised, tabled and plotted like a bundled one.

Every metric function takes the same arguments in the same order:
``fn(estimate [T], reference [T] | None, *, sample_rate, mixture [T] | None)`` and returns a
float (or, for a metric with several columns, a dict of them); it raises
:class:`~avss_bench.metrics.perceptual.MetricError` with a short reason when the value cannot be
computed, which the scorer records as NaN plus that reason. The scorer calls it only for finite,
non-silent signals of a rate in ``sample_rates`` and at least ``minimum(rate)`` samples long;
anything else is NaN with the reason said here, never a clamp value printed as a score.

This module imports nothing heavy (the CLI validates ``--metrics`` with it before any work).
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
        columns: the per-target values it writes, first the metric itself; with
            ``improvement``, exactly one value column followed by ``<name>_i``
            (metric(estimate) - metric(mixture)).
        needs_reference: False for reference-free scores (DNSMOS): ``fn`` gets None.
        needs_mixture: ``fn`` reads the unprocessed mixture (others get None).
        improvement: also score the unprocessed mixture and report the difference.
        sample_rates: the rates it is defined at (empty: any); another rate is NaN + reason.
        min_samples: shorter signals are NaN with a reason: a number of samples, or a function
            of the sample rate giving it (PESQ needs 0.25 s at any rate).
        default: part of the default ``--metrics`` set of every command.
        in_table: its table column (the improvement when there is one) is a leaderboard
            column (SI-SNRi, SDRi, PESQ, STOI).
        description: one line for ``--help``.
        label: how messages name the metric (default: its first column's label).
        batch: optional batched form of a single-column metric, for speed:
            ``batch(references [n, T], *, sample_rate)`` prepares one mixture's references once
            and returns ``values(estimates [m, T], pairs) -> [len(pairs)]``, the value of
            estimate i against reference j for each ``(i, j)``; it must equal ``fn`` (a
            non-finite value is scored again by ``fn``, which says why).
    """

    name: str
    fn: Callable[..., Any]
    columns: tuple[Column, ...]
    needs_reference: bool = True
    needs_mixture: bool = False
    improvement: bool = False
    sample_rates: tuple[int, ...] = ()
    min_samples: int | Callable[[int], int] = 1
    default: bool = False
    in_table: bool = False
    description: str = ""
    label: str = ""
    batch: Callable[..., Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.columns:
            raise AvssError(f"metric '{self.name}' declares no columns")
        if self.improvement and (len(self.columns) != 2
                                 or self.columns[1].key != f"{self.name}_i"):
            raise AvssError(f"metric '{self.name}' with an improvement needs exactly the columns "
                            f"{self.name} and {self.name}_i")
        if not self.label:
            object.__setattr__(self, "label", self.columns[0].label)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every column this metric writes, in order (values, then the improvement)."""
        return tuple(column.key for column in self.columns)

    @property
    def value_keys(self) -> tuple[str, ...]:
        """The columns ``fn`` gives (all but the improvement)."""
        return self.keys[:1] if self.improvement else self.keys

    @property
    def table_column(self) -> Column:
        """The column a leaderboard shows: the improvement when there is one."""
        return self.columns[-1] if self.improvement else self.columns[0]

    def minimum(self, sample_rate: int) -> int:
        """The fewest samples it is computed on at ``sample_rate``."""
        bound = self.min_samples
        return int(bound(int(sample_rate)) if callable(bound) else bound)

    def unfit(self, num_samples: int, sample_rate: int) -> str | None:
        """Why signals of this length and rate get NaN instead of a value, or None."""
        if self.sample_rates and sample_rate not in self.sample_rates:
            rates = " or ".join(str(rate) for rate in self.sample_rates)
            return f"{self.label} needs {rates} Hz audio (got {sample_rate} Hz)"
        need = self.minimum(sample_rate)
        if num_samples < need:
            return (f"too short for {self.label} ({num_samples} samples; it needs {need} at "
                    f"{sample_rate} Hz)")
        return None

    def values(self, result: Any) -> dict[str, float]:
        """``fn``'s result as ``{value key: float}`` (a plugin returning other keys: one line)."""
        keys = self.value_keys
        if isinstance(result, dict):
            if set(result) != set(keys):
                raise AvssError(f"metric '{self.name}' returned {sorted(result)}, not the "
                                f"columns it declares {list(keys)}")
            return {key: float(result[key]) for key in keys}
        if len(keys) != 1:
            raise AvssError(f"metric '{self.name}' must return a dict of {list(keys)}")
        return {keys[0]: float(result)}

    def score(self, estimate: Any, reference: Any = None, *, sample_rate: int,
              mixture: Any = None) -> dict[str, float]:
        """The metric of one estimate: ``{value key: float}``.

        Raises:
            MetricError: with the reason when it cannot be computed (rate, length, or ``fn``'s).
        """
        from avss_bench.metrics.perceptual import MetricError

        reason = self.unfit(len(estimate), sample_rate)
        if reason:
            raise MetricError(reason)
        return self.values(self.fn(estimate, reference if self.needs_reference else None,
                                   sample_rate=sample_rate,
                                   mixture=mixture if self.needs_mixture else None))


class MetricRegistry:
    """Metrics by name: the bundled ones, then those of the ``avss_bench.metrics`` entry points."""

    def __init__(self, bundled: Iterable[Metric]) -> None:
        self._bundled = {metric.name: metric for metric in bundled}
        self._all: dict[str, Metric] | None = None

    def all(self) -> dict[str, Metric]:
        if self._all is None:
            found = dict(self._bundled)
            keys = {key for metric in found.values() for key in metric.keys}
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
                taken = keys.intersection(metric.keys)
                if taken:
                    raise AvssError(f"metric plugin '{ep.name}' ({ep.value}) writes columns "
                                    f"another metric writes: {', '.join(sorted(taken))}")
                keys.update(metric.keys)
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
        if not names:
            raise AvssError(f"no metric given; choose from {', '.join(metrics)}")
        return tuple(name for name in metrics if name in names)

    def parse(self, text: str | None) -> tuple[str, ...]:
        """``--metrics si_snr,sdr`` checked (None: the default set)."""
        if text is None:
            return self.defaults()
        return self.check([name.strip() for name in text.split(",") if name.strip()])

    def chosen(self, names: Sequence[str] | None) -> list[Metric]:
        """The metrics of ``names`` (checked; None: the default set), in registry order."""
        return [self.get(name) for name in (self.defaults() if names is None
                                            else self.check(names))]

    def keys(self, names: Sequence[str] | None) -> list[str]:
        """The per-target columns ``names`` write, in registry order."""
        return [key for metric in self.chosen(names) for key in metric.keys]

    def defaults(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.all().values() if m.default)

    def column(self, key: str) -> Column | None:
        """The column a results key belongs to (``si_snr_i``), or None for other keys."""
        for metric in self.all().values():
            for column in metric.columns:
                if column.key == key:
                    return column
        return None

    def label(self, key: str) -> str:
        """A results key's label (``SI-SNRi``), the key itself for keys of no metric."""
        column = self.column(key)
        return key if column is None else column.label

    def table_columns(self) -> list[Column]:
        """The leaderboard's quality columns, in order."""
        return [m.table_column for m in self.all().values() if m.in_table]


# ------------------------------------------------------------------ the bundled metrics
def _si_snr(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.si_snr import si_snr

    return float(si_snr(estimate, reference))


def _si_snr_batch(references: Any, *, sample_rate: int) -> Callable[..., Any]:
    import numpy as np

    from avss_bench.metrics.si_snr import si_snr

    refs = np.asarray(references, dtype=np.float64)

    def values(estimates: Any, pairs: Sequence[tuple[int, int]]) -> Any:
        ests = np.asarray(estimates, dtype=np.float64)
        return np.atleast_1d(si_snr(ests[[i for i, _ in pairs]], refs[[j for _, j in pairs]]))

    return values


def _sdr(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    import numpy as np

    from avss_bench.metrics.perceptual import MetricError

    value = _sdr_batch(np.asarray(reference)[None, :], sample_rate=sample_rate)(
        np.asarray(estimate)[None, :], [(0, 0)])[0]
    if not np.isfinite(value):
        raise MetricError("BSS-Eval failed (singular projection)")
    return float(value)


def _sdr_batch(references: Any, *, sample_rate: int) -> Callable[..., Any]:
    import numpy as np

    from avss_bench.metrics.bss_eval import ReferenceSet

    return ReferenceSet(np.asarray(references, dtype=np.float64)).target_sdr


def _filter_taps(sample_rate: int) -> int:
    """BSS-Eval's distortion filter (512 taps): SDR is undefined on fewer samples, and SI-SNR,
    reported beside it, takes the same minimum."""
    from avss_bench.metrics.bss_eval import FILTER_LENGTH

    return FILTER_LENGTH


def _pesq(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import pesq

    return pesq(estimate, reference, sample_rate=sample_rate)


def _quarter_second(sample_rate: int) -> int:
    """PESQ (ITU-T P.862) needs 0.25 s."""
    return sample_rate // 4


def _stoi(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import stoi

    return stoi(estimate, reference, sample_rate=sample_rate)


def _estoi(estimate: Any, reference: Any, *, sample_rate: int, mixture: Any = None) -> float:
    from avss_bench.metrics.perceptual import estoi

    return estoi(estimate, reference, sample_rate=sample_rate)


def _stoi_frames(sample_rate: int) -> int:
    """pystoi works at 10 kHz and needs 30 STFT frames (256 samples, hop 128) after its
    silent-frame removal: more than 4096 samples at 10 kHz (0.41 s), 6554 at 16 kHz. Silent
    frames can still leave too few; pystoi's own check then gives the reason."""
    return 4096 * sample_rate // 10000 + 1


def _dnsmos(estimate: Any, reference: Any = None, *, sample_rate: int,
            mixture: Any = None) -> dict[str, float]:
    from avss_bench.metrics.dnsmos import dnsmos

    return dnsmos(estimate, sample_rate=sample_rate)


def _one_second(sample_rate: int) -> int:
    """DNSMOS scores 9.01 s windows hopped by 1 s, repeating a shorter clip to fill one: a clip
    under one hop is a loop of a fragment, not speech."""
    return sample_rate


BUNDLED = (
    Metric("si_snr", _si_snr, (Column("si_snr", "SI-SNR", "dB"),
                               Column("si_snr_i", "SI-SNRi", "dB")),
           improvement=True, default=True, in_table=True, min_samples=_filter_taps,
           batch=_si_snr_batch,
           description="scale-invariant SNR (asteroid/SpeechBrain definition)"),
    Metric("sdr", _sdr, (Column("sdr", "SDR", "dB"), Column("sdr_i", "SDRi", "dB")),
           improvement=True, default=True, in_table=True, min_samples=_filter_taps,
           batch=_sdr_batch, description="BSS-Eval v3 SDR, 512-tap filter (as mir_eval)"),
    Metric("pesq", _pesq, (Column("pesq", "PESQ", "MOS-LQO"),), sample_rates=(8000, 16000),
           min_samples=_quarter_second, default=True, in_table=True,
           description="ITU-T P.862, wide-band at 16 kHz, narrow-band at 8 kHz (pesq package)"),
    Metric("stoi", _stoi, (Column("stoi", "STOI", "", digits=3),), min_samples=_stoi_frames,
           default=True, in_table=True,
           description="short-time objective intelligibility (pystoi)"),
    Metric("estoi", _estoi, (Column("estoi", "ESTOI", "", digits=3),),
           min_samples=_stoi_frames, description="extended STOI (pystoi)"),
    Metric("dnsmos", _dnsmos, (Column("dnsmos_sig", "DNSMOS SIG", "MOS"),
                               Column("dnsmos_bak", "DNSMOS BAK", "MOS"),
                               Column("dnsmos_ovrl", "DNSMOS OVRL", "MOS")),
           needs_reference=False, sample_rates=(16000,), min_samples=_one_second,
           label="DNSMOS",
           description="reference-free DNSMOS P.835 (speechmos ONNX models)"),
)

metric_registry = MetricRegistry(BUNDLED)
