"""Curve fits on plain arrays: power laws, a + b·n + c·n², complexity classes.

Pure numpy, no pandas, no plotting; ``analysis.py`` applies these per series.
n is the sequence length (tokens); y is seconds, bytes or any positive cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Two-sided 95% Student t quantiles t(0.975, df), from standard tables. Between
# rows we interpolate in 1/df, which is accurate to ~1e-3 here; df -> inf is 1.960.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365,
         8: 2.306, 9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145,
         15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080,
         22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
_Z975 = 1.960


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return math.nan
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    if df > keys[-1]:
        lo_df, lo_t, hi_inv, hi_t = keys[-1], _T975[keys[-1]], 0.0, _Z975
    else:
        lo_df = max(k for k in keys if k < df)
        hi_df = min(k for k in keys if k > df)
        lo_t, hi_inv, hi_t = _T975[lo_df], 1 / hi_df, _T975[hi_df]
    w = (1 / lo_df - 1 / df) / (1 / lo_df - hi_inv)
    return lo_t + w * (hi_t - lo_t)


@dataclass(frozen=True)
class PowerFit:
    """y ≈ prefactor · n^exponent, fitted by least squares on (log n, log y)."""

    exponent: float
    ci_low: float  # 95% interval of the exponent (nan with fewer than 3 points)
    ci_high: float
    prefactor: float  # y at n = 1, in y's unit
    r2: float  # in log-log space
    points: int
    n_min: int
    n_max: int

    def predict(self, n):
        return self.prefactor * np.asarray(n, dtype=float) ** self.exponent


def _positive(n: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Finite, positive (n, y) pairs sorted by n; a log of 0 or None has no meaning."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(n) & np.isfinite(y) & (n > 0) & (y > 0)
    order = np.argsort(n[keep], kind="stable")
    return n[keep][order], y[keep][order]


def fit_power_law(n: Sequence[float], y: Sequence[float]) -> PowerFit | None:
    """Exponent k of y ∝ n^k with a 95% t-interval; None with < 2 distinct n."""
    n, y = _positive(n, y)
    if np.unique(n).size < 2:
        return None
    x, v = np.log(n), np.log(y)
    m = x.size
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (v - v.mean())).sum() / sxx)
    intercept = float(v.mean() - slope * x.mean())
    resid = v - (intercept + slope * x)
    sse = float((resid ** 2).sum())
    sst = float(((v - v.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else 1.0
    if m >= 3:
        half = t975(m - 2) * math.sqrt(sse / (m - 2) / sxx)
        lo, hi = slope - half, slope + half
    else:
        lo = hi = math.nan
    return PowerFit(slope, lo, hi, math.exp(intercept), r2, m, int(n[0]), int(n[-1]))


def upper_range(ns: Sequence[int], min_points: int = 3) -> list[int]:
    """The upper half of the distinct seq_lens (at least ``min_points``), or [] if too few.

    Fitting only there gives the asymptotic exponent: at small n fixed costs
    (framework overhead, ~tens of µs per op on CPU) flatten every curve."""
    distinct = sorted(set(int(v) for v in ns))
    if len(distinct) < min_points:
        return []
    take = max(min_points, math.ceil(len(distinct) / 2))
    return distinct[-take:]


def nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares min ||a·x - y||, x ≥ 0, for a handful of columns.

    Exact by enumeration: the optimum is the unconstrained least-squares solution
    on its own support, so the best feasible solution over all 2^k supports is it.
    With k = 3 that is 7 tiny solves."""
    k = a.shape[1]
    best, best_sse = np.zeros(k), float((y ** 2).sum())
    for size in range(1, k + 1):
        for cols in itertools.combinations(range(k), size):
            sub, *_ = np.linalg.lstsq(a[:, cols], y, rcond=None)
            if np.any(sub < 0):
                continue
            x = np.zeros(k)
            x[list(cols)] = sub
            sse = float(((a @ x - y) ** 2).sum())
            if sse < best_sse:
                best, best_sse = x, sse
    return best


@dataclass(frozen=True)
class Decomposition:
    """y ≈ a + b·n + c·n² with a, b, c ≥ 0 (fixed, linear and quadratic cost)."""

    a: float  # fixed cost per call, y's unit (launch/framework overhead)
    b: float  # per token
    c: float  # per token pair (attention scores)
    r2: float  # of the relative residuals' fit, on y itself

    def total(self, n):
        n = np.asarray(n, dtype=float)
        return self.a + self.b * n + self.c * n * n

    def quadratic_share(self, n):
        """c·n² / (a + b·n + c·n²): the fraction of the cost that is quadratic."""
        n = np.asarray(n, dtype=float)
        return self.c * n * n / self.total(n)

    def fixed_share(self, n):
        n = np.asarray(n, dtype=float)
        return self.a / self.total(n)

    @property
    def quadratic_overtakes_linear(self) -> float:
        """The n where c·n² = b·n (n = b/c); 0 if there is no linear term, inf if no c."""
        if self.c <= 0:
            return math.inf
        return self.b / self.c


def fit_decomposition(n: Sequence[float], y: Sequence[float]) -> Decomposition | None:
    """Non-negative fit of y ≈ a + b·n + c·n²; None with fewer than 3 distinct n.

    Residuals are relative (each row divided by y) so that a 1 ms point at n=32
    weighs as much as a 1 s point at n=2048; absolute least squares would fit
    only the largest n."""
    n, y = _positive(n, y)
    if np.unique(n).size < 3:
        return None
    design = np.column_stack([np.ones_like(n), n, n * n])
    coef = nnls(design / y[:, None], np.ones_like(y))
    pred = design @ coef
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / sst if sst > 0 else 1.0
    return Decomposition(float(coef[0]), float(coef[1]), float(coef[2]), r2)


# Complexity classes as google/benchmark's complexity.cc fits them: y ≈ coef · f(n).
CLASSES = {
    "O(1)": lambda n: np.ones_like(n),
    "O(n)": lambda n: n,
    "O(n log n)": lambda n: n * np.log2(n),
    "O(n²)": lambda n: n * n,
}


@dataclass(frozen=True)
class ComplexityFit:
    name: str  # one of CLASSES
    coef: float  # y per f(n), y's unit
    r2: float  # 1 - SSres/SStot of y ≈ coef·f(n) (O(1) scores 0 by construction)
    rms_rel: float  # RMS residual / mean(y), what google/benchmark prints as RMS %
    r2_by_class: dict


def fit_complexity(n: Sequence[float], y: Sequence[float]) -> ComplexityFit | None:
    """The class among CLASSES whose one-coefficient fit has the highest R²."""
    n, y = _positive(n, y)
    if np.unique(n).size < 3:
        return None
    sst = float(((y - y.mean()) ** 2).sum())
    fits = {}
    for name, f in CLASSES.items():
        fn = f(n)
        coef = float((y * fn).sum() / (fn * fn).sum())
        sse = float(((y - coef * fn) ** 2).sum())
        r2 = 1.0 - sse / sst if sst > 0 else 1.0
        fits[name] = (coef, r2, math.sqrt(sse / n.size) / float(y.mean()))
    best = max(fits, key=lambda k: fits[k][1])
    coef, r2, rms = fits[best]
    return ComplexityFit(best, coef, r2, rms, {k: v[1] for k, v in fits.items()})


def crossings(n: Sequence[float], y1: Sequence[float], y2: Sequence[float]) -> list[float]:
    """Every n where curve 1 and curve 2 cross, by linear interpolation in log-log space.

    Inputs are aligned on the same sorted n. A touch (equal at a grid point) counts
    once, at that point."""
    n = np.asarray(n, dtype=float)
    d = np.log(np.asarray(y1, dtype=float)) - np.log(np.asarray(y2, dtype=float))
    out = []
    for i in range(len(n) - 1):
        d0, d1 = d[i], d[i + 1]
        if d0 == 0:
            out.append(float(n[i]))
        elif d0 * d1 < 0:
            w = d0 / (d0 - d1)
            out.append(float(math.exp(math.log(n[i]) + w * (math.log(n[i + 1]) - math.log(n[i])))))
    if len(d) and d[-1] == 0 and (len(d) == 1 or d[-2] != 0):
        out.append(float(n[-1]))
    return out
