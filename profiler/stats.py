"""Statistics of raw latency samples. Nothing here is stored as an input: every
figure is recomputed from the samples, like torch.utils.benchmark's Measurement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from profiler.records import NOISY_REL_IQR


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
