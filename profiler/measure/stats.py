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


# Student's t, two-sided 95% (0.975 quantile), for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1).

    Beyond the table, the Cornish-Fisher expansion z + (z^3 + z) / (4 df) is within
    0.001 of the exact value."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df)


def log_deviations(medians: Sequence[float]) -> tuple[float, int]:
    """(sum of squared deviations of log medians from their mean, degrees of freedom)."""
    y = np.log(np.asarray(medians, dtype=float))
    return float(((y - y.mean()) ** 2).sum()), int(y.size - 1)


# The MAD estimates sigma with ~37% of the efficiency of the standard deviation for
# normal data: its effective degrees of freedom are about that share of the nominal.
MAD_EFFICIENCY = 0.37
MAD_TO_SIGMA = 1.4826  # sigma = 1.4826 * median(|residual|) for normal residuals


def pooled_log_variance(points: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    """Between-instance variance of log latency, pooled over points that share a noise
    level (one device and thread count): (variance, degrees of freedom), or None when
    no point has two instances. Pooling gives a two-instance point the degrees of
    freedom of the whole run instead of one.

    Robust: sigma from the median absolute residual, each residual y - mean(y) scaled
    by sqrt(k / (k - 1)) so that it has variance sigma^2 whatever the point's k.
    Whole processes are sometimes off by tens of percent (docs/measurement.md); a few
    such points must widen their own intervals (instance_interval), not everyone's."""
    residuals, df = [], 0
    for medians in points:
        k = len(medians)
        if k >= 2:
            y = np.log(np.asarray(medians, dtype=float))
            residuals.extend(np.abs(y - y.mean()) * np.sqrt(k / (k - 1)))
            df += k - 1
    if not df:
        return None
    sigma = MAD_TO_SIGMA * float(np.median(residuals))
    return sigma**2, max(1, round(MAD_EFFICIENCY * df))


def instance_interval(medians: Sequence[float], pooled: tuple[float, int] | None
                      ) -> tuple[float, float] | None:
    """95% interval of a point's latency (the median of its instance medians).

    In log space: center ± t(df) * s / sqrt(k), with s^2 the larger of the pooled
    between-instance variance and the point's own (an instance that disagrees widens
    its own interval), df from the pool. None without a pool or with one instance and
    no pool to lean on."""
    if pooled is None or not medians:
        return None
    var, df = pooled
    if len(medians) >= 2:
        own, own_df = log_deviations(medians)
        var = max(var, own / own_df)
    center = float(np.log(np.median(medians)))
    half = t975(df) * np.sqrt(var / len(medians))
    return float(np.exp(center - half)), float(np.exp(center + half))
