"""Statistics of raw latency samples. Nothing here is stored as an input: every
figure is recomputed from the samples, like torch.utils.benchmark's Measurement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from profiler.records import NOISY_REL_IQR

# Normal data: sigma ~ IQR / 1.349, and the median of n samples has a standard error of
# about 1.2533 sigma / sqrt(n).
IQR_TO_SIGMA = 1 / 1.349
MEDIAN_SE = 1.2533


@dataclass(frozen=True)
class SampleStats:
    median: float
    q25: float
    q75: float
    mean: float
    min: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25

    @property
    def rel_iqr(self) -> float:
        """IQR / median: the precision measure adaptive sampling drives down."""
        return self.iqr / self.median if self.median > 0 else float("inf")

    @property
    def rel_median_se(self) -> float:
        """Relative standard error of the median: how far more samples from the same
        process would move it. The IQR says how noisy one sample is; the median of
        hundreds of samples is known to a fraction of that."""
        return MEDIAN_SE * IQR_TO_SIGMA * self.rel_iqr / self.n**0.5

    @property
    def noisy(self) -> bool:
        return self.rel_iqr >= NOISY_REL_IQR


def summarize(samples: Sequence[float]) -> SampleStats:
    """Median, quartiles (linear interpolation, as numpy and torch.utils.benchmark), mean, min."""
    if len(samples) == 0:
        raise ValueError("no samples")
    a = np.asarray(samples, dtype=float)
    q25, median, q75 = np.quantile(a, [0.25, 0.5, 0.75])
    return SampleStats(median=float(median), q25=float(q25), q75=float(q75),
                       mean=float(a.mean()), min=float(a.min()), n=int(a.size))


# What the instances of one run cannot see: the host's slow spells last minutes and
# fall on every instance of a point inside them. Calibrated on sixteen idle `default`
# runs on two days (docs/measurement.md): with the own gap plus this many typical gaps,
# a run's floor lay within its interval of the median of the other runs' floors for
# 95.2% (1 thread) and 95.1% (2 threads) of points at 3 instances, 97.5% and 94.2% at
# 2; with one typical gap, as first calibrated on five pairs of one day, for 85%.
TYPICAL_GAPS = 3.0


def floor_interval(floors: Sequence[float], typical_gap: float | None
                   ) -> tuple[float, float] | None:
    """95% interval of a point's floor (the fastest of its instance ``floors``, seconds).

    Half-width in log space: the point's own gap (log of its second-fastest floor over
    its fastest: how closely an independent instance reproduced it) plus TYPICAL_GAPS
    times ``typical_gap``, the median of that gap over the points of the same device
    and thread count: the run's own measure of how far independent processes drift
    apart, scaled to what runs of the same code minutes apart showed. None with fewer
    than two floors or no typical gap."""
    if len(floors) < 2 or typical_gap is None or not np.isfinite(typical_gap):
        return None
    low, second = sorted(floors)[:2]
    half = float(np.log(second / low)) + TYPICAL_GAPS * typical_gap
    return float(low * np.exp(-half)), float(low * np.exp(half))
