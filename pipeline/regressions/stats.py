"""The statistics behind a regression verdict: summaries, a rank test, an effect size, CUSUM.

Pure functions over plain sequences of floats.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from schemas.analytics import SummaryStats

__all__ = [
    "Comparison",
    "compare",
    "cusum_step",
    "cusum_threshold",
    "mann_whitney_u",
    "relative_change",
    "robust_scale",
    "summarise",
]


def summarise(values: Sequence[float] | np.ndarray) -> SummaryStats:
    a = np.asarray(values, dtype=float)
    return SummaryStats(
        n=int(a.size),
        mean=float(a.mean()),
        p50=float(np.percentile(a, 50)),
        p95=float(np.percentile(a, 95)),
        stdev=float(a.std(ddof=1)) if a.size > 1 else 0.0,
    )


def robust_scale(values: Sequence[float]) -> tuple[float, float]:
    """(median, sigma) with sigma from the MAD; never zero, so z-scores stay finite."""
    med = statistics.median(values)
    sigma = 1.4826 * statistics.median([abs(v - med) for v in values])
    floor = max(abs(med) * 1e-6, 1e-12)
    return med, max(sigma, floor)


def relative_change(baseline: float, current: float) -> float:
    """Signed change in percent; a zero baseline compares against a tiny epsilon."""
    return (current - baseline) / max(abs(baseline), 1e-12) * 100.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """Current sample against baseline sample. ``worse`` accounts for the metric's sense."""

    baseline: SummaryStats
    current: SummaryStats
    change_percent: float
    p_value: float
    effect_size: float  # Cliff's delta from U, in [-1, 1]; positive = current larger
    significant: bool
    large_enough: bool
    worse: bool

    @property
    def flagged(self) -> bool:
        return self.significant and self.large_enough


def compare(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool,
    p_value: float,
    min_effect_percent: float,
) -> Comparison:
    """Mann-Whitney U (two-sided) plus a minimum change of the medians.

    The rank test makes no normality assumption (window p95s are skewed); the effect floor
    keeps a huge sample from flagging a trivial shift.
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(current, dtype=float)
    u, p = mann_whitney_u(b, c)
    delta = 2.0 * u / (b.size * c.size) - 1.0
    change = relative_change(float(np.median(b)), float(np.median(c)))
    return Comparison(
        baseline=summarise(b),
        current=summarise(c),
        change_percent=change,
        p_value=p,
        effect_size=delta,
        significant=p < p_value,
        large_enough=abs(change) >= min_effect_percent,
        worse=(change < 0) if higher_is_better else (change > 0),
    )


def mann_whitney_u(baseline: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """U of ``current`` over ``baseline`` and its two-sided p-value.

    Exact when there are no ties and the samples are small (the usual 5 windows against
    30), else the normal approximation with tie correction. Hand-rolled because scipy's
    version costs ~1 ms per call, which is most of a worker's budget per record.
    """
    b = np.sort(baseline)
    n1, n2 = current.size, b.size
    lo = np.searchsorted(b, current, "left")
    hi = np.searchsorted(b, current, "right")
    u = float(lo.sum() + 0.5 * (hi - lo).sum())
    ties = bool((hi > lo).any()) or np.unique(current).size < n1
    if not ties and n1 * n2 <= 4000:
        cdf = _u_cdf(min(n1, n2), max(n1, n2))
        k = int(round(min(u, n1 * n2 - u)))
        return u, min(1.0, 2.0 * float(cdf[k]))
    both = np.concatenate([b, current])
    _, counts = np.unique(both, return_counts=True)
    n = n1 + n2
    tie_term = float((counts**3 - counts).sum()) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return u, 1.0
    z = (abs(u - n1 * n2 / 2.0) - 0.5) / math.sqrt(var)
    return u, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))


@lru_cache(maxsize=64)
def _u_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= k) under H0 for sample sizes m <= n: the Gaussian binomial [m+n, m]_q."""
    poly = np.zeros(m * n + 1)
    poly[0] = 1.0
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i)), then divide by (1 - q^i) (a running sum with stride i)
        shifted = np.zeros_like(poly)
        shifted[n + i :] = poly[: poly.size - (n + i)]
        poly = poly - shifted
        for k in range(i, poly.size):
            poly[k] += poly[k - i]
    return np.cumsum(poly / poly.sum())


def cusum_step(
    s_hi: float, s_lo: float, value: float, *, mean: float, sigma: float, k: float
) -> tuple[float, float]:
    """One step of a two-sided tabular CUSUM in units of the baseline sigma."""
    z = (value - mean) / sigma
    return max(0.0, s_hi + z - k), max(0.0, s_lo - z - k)


@lru_cache(maxsize=256)
def cusum_threshold(k: float, arl: float) -> float:
    """Decision threshold h (in sigmas) of a one-sided CUSUM with slack ``k`` whose mean
    run length without a change is ``arl`` windows, by Siegmund's approximation
    ARL0 = (exp(2kb) - 2kb - 1) / (2k^2), b = h + 1.166 (Gaussian values)."""
    lo, hi = 0.0, 200.0
    for _ in range(60):  # bisection: ARL0 grows monotonically with b
        b = (lo + hi) / 2
        x = 2 * k * b
        run = (math.expm1(min(x, 700.0)) - x) / (2 * k * k)
        lo, hi = (b, hi) if run < arl else (lo, b)
    return max(hi - 1.166, 0.0)
