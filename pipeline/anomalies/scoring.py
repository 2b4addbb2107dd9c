"""Robust anomaly scores for one series field: median/MAD, or STL when it has a cycle.

Without a cycle the expected value is the median of the last windows and the scale their
MAD. With one (a daily or weekly cycle found by STL on bucketed history, seasonal
strength above a floor), the expected value is STL's trend plus the season at this phase,
and the scale is the MAD of recent residuals against that expectation, measured on raw
window values (bucket means are smoother than what is being scored).
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Score", "ScoreParams", "SeriesState", "score_value"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class ScoreParams:
    history: int = 60
    min_history: int = 20
    threshold: float = 6.0
    periods_s: tuple[float, ...] = (86400.0,)
    buckets_per_period: int = 48
    min_strength: float = 0.6


@dataclass(frozen=True, slots=True)
class Score:
    method: str  # "mad" or "stl"
    expected: float
    lower: float
    upper: float
    score: float

    def is_anomaly(self, threshold: float) -> bool:
        return abs(self.score) > threshold


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


@dataclass(slots=True)
class SeriesState:
    values: list[float] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    seasonal: list[Seasonal] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> SeriesState:
        d = dict(data)
        d["seasonal"] = [Seasonal(**s) for s in d.get("seasonal", [])]
        return cls(**d)


def _mad(values: list[float], center: float) -> float:
    mad = _MAD_TO_SIGMA * statistics.median([abs(v - center) for v in values])
    return max(mad, abs(center) * 1e-3, 1e-9)  # a flat series still has a finite scale


def score_value(st: SeriesState, value: float, ts: float, p: ScoreParams) -> Score | None:
    """Score ``value`` against the state, then learn from it. None until enough history."""
    if not st.seasonal:
        st.seasonal = [Seasonal(period_s=ps) for ps in p.periods_s]
    model = max(
        (s for s in st.seasonal if s.trend is not None and s.strength >= p.min_strength),
        key=lambda s: s.strength,
        default=None,
    )
    out = None
    if model is not None:
        expected = _expected(model, ts, p.buckets_per_period)
        resid = value - expected
        if len(st.residuals) >= p.min_history:
            scale = _mad(st.residuals, statistics.median(st.residuals))
            center = expected + statistics.median(st.residuals)
            out = _score("stl", value, center, scale, p.threshold)
        st.residuals = (st.residuals + [resid])[-p.history :]
    elif len(st.values) >= p.min_history:
        med = statistics.median(st.values)
        out = _score("mad", value, med, _mad(st.values, med), p.threshold)
    st.values = (st.values + [value])[-p.history :]
    for s in st.seasonal:
        _learn(s, value, ts, p)
    return out


def _score(method: str, value: float, expected: float, scale: float, k: float) -> Score:
    return Score(method, expected, expected - k * scale, expected + k * scale,
                 (value - expected) / scale)  # fmt: skip


def _expected(s: Seasonal, ts: float, per_period: int) -> float:
    width = s.period_s / per_period
    ahead = (ts - (s.fitted_at or ts)) / width
    phase = int((ts % s.period_s) // width) % per_period
    return float((s.trend or 0.0) + s.slope * ahead + s.season[phase])


def _learn(s: Seasonal, value: float, ts: float, p: ScoreParams) -> None:
    width = s.period_s / p.buckets_per_period
    start = ts - ts % width
    if s.buckets and start < s.buckets[-1][0]:
        return
    if not s.buckets or start > s.buckets[-1][0]:
        closed = bool(s.buckets)
        s.buckets.append([start, 0.0, 0.0])
        s.buckets = s.buckets[-(4 * p.buckets_per_period + 1) :]
        if closed and len(s.buckets) - 1 >= 2 * p.buckets_per_period:
            _fit(s, p.buckets_per_period)
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
