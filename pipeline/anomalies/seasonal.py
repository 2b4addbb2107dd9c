"""A series' daily or weekly cycle, learned by STL on bucketed history. Pure state.

Values are averaged into ``per_period`` buckets per cycle (four cycles kept); from two
full cycles on, every bucket close refits STL and keeps the trend at the end, its slope,
the season by phase and the seasonal strength (1 - var(resid) / var(season + resid)).
Used by the anomaly scores (expected value) and the regression stage (season removed
before the test, so a cycle is not a step).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Seasonal", "dominant", "expected", "learn", "season_at"]


@dataclass(slots=True)
class Seasonal:
    period_s: float
    buckets: list[list[float]] = field(default_factory=list)  # [start, sum, count]
    # fitted: trend at the last full bucket, its slope per bucket, season by phase
    trend: float | None = None
    slope: float = 0.0
    season: list[float] = field(default_factory=list)
    fitted_at: float | None = None
    strength: float = 0.0


def dominant(models: Sequence[Seasonal], min_strength: float) -> Seasonal | None:
    """The fitted cycle with the highest strength, if any reaches ``min_strength``."""
    return max(
        (s for s in models if s.trend is not None and s.strength >= min_strength),
        key=lambda s: s.strength,
        default=None,
    )


def season_at(s: Seasonal, ts: float, per_period: int) -> float:
    width = s.period_s / per_period
    phase = int((ts % s.period_s) // width) % per_period
    return float(s.season[phase])


def expected(s: Seasonal, ts: float, per_period: int) -> float:
    """Trend carried forward from the last fit plus the season at this phase."""
    width = s.period_s / per_period
    ahead = (ts - (s.fitted_at or ts)) / width
    return float((s.trend or 0.0) + s.slope * ahead + season_at(s, ts, per_period))


def learn(s: Seasonal, value: float, ts: float, per_period: int) -> None:
    """Add one value; refits when it closes a bucket and two cycles are full."""
    width = s.period_s / per_period
    start = ts - ts % width
    if s.buckets and start < s.buckets[-1][0]:
        return
    if not s.buckets or start > s.buckets[-1][0]:
        closed = bool(s.buckets)
        s.buckets.append([start, 0.0, 0.0])
        s.buckets = s.buckets[-(4 * per_period + 1) :]
        if closed and len(s.buckets) - 1 >= 2 * per_period:
            _fit(s, per_period)
    s.buckets[-1][1] += value
    s.buckets[-1][2] += 1


def _fit(s: Seasonal, per_period: int) -> None:
    """STL on the full buckets (gaps interpolated); keeps trend, slope and season."""
    from statsmodels.tsa.seasonal import STL

    full = s.buckets[:-1]
    width = s.period_s / per_period
    starts = np.array([b[0] for b in full])
    means = np.array([b[1] / b[2] for b in full])
    grid = np.arange(starts[0], starts[-1] + width / 2, width)
    y = np.interp(grid, starts, means)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = STL(y, period=per_period, robust=True).fit()
    resid, seasonal = np.asarray(res.resid), np.asarray(res.seasonal)
    var_rs = float(np.var(resid + seasonal))
    s.strength = max(0.0, 1.0 - float(np.var(resid)) / var_rs) if var_rs > 0 else 0.0
    trend = np.asarray(res.trend)
    s.trend = float(trend[-1])
    s.slope = float(trend[-1] - trend[-per_period // 4]) / (per_period // 4)
    phases = ((grid % s.period_s) // width).astype(int) % per_period
    season = np.zeros(per_period)
    for ph in range(per_period):
        season[ph] = float(np.mean(seasonal[phases == ph])) if (phases == ph).any() else 0.0
    s.season = season.tolist()
    s.fitted_at = float(grid[-1] + width / 2)
