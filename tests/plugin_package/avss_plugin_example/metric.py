"""A metric plugin: the estimate's energy relative to the reference's, in dB."""

import numpy as np

from avss_bench.metrics.registry import Column, Metric


def energy_ratio(estimate, reference, *, sample_rate, mixture=None) -> float:
    """10 log10(|estimate|^2 / |reference|^2): 0 dB when the levels agree."""
    estimate, reference = np.asarray(estimate, float), np.asarray(reference, float)
    return float(10 * np.log10((np.sum(estimate**2) + 1e-12) / (np.sum(reference**2) + 1e-12)))


ENERGY_RATIO = Metric(name="energy_ratio", fn=energy_ratio,
                      columns=(Column("energy_ratio", "Energy ratio", "dB",
                                      higher_is_better=False),),
                      in_table=True, description="estimate-to-reference energy, dB")
