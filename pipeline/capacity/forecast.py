"""Choose a trend model by hold-out error and turn it into a CapacityForecast. Pure."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.capacity.models import MODELS, Fitted, HoltWinters, fit_holt_winters
from schemas.analytics import CapacityForecast, ForecastPoint
from schemas.config.analytics import CapacityConfig
from schemas.records import new_id

__all__ = ["Selection", "build_forecast", "detect_season", "resample", "select_model"]

DAY = 86400.0
#: Refits between re-optimisations of Holt-Winters' weights (hourly refits: daily).
HW_REOPTIMISE_EVERY = 24
HORIZONS = (30, 60, 90)
_PATTERN = {
    "linear": "linear",
    "exponential": "exponential",
    "logarithmic": "logarithmic",
    "holt_winters": "cyclical",
}


@dataclass(frozen=True, slots=True)
class Selection:
    name: str
    model: Fitted
    score: float
    candidates: dict[str, float]


def resample(
    ts: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, step_s: float
) -> tuple[np.ndarray, ...]:
    """Evenly spaced means over ``step_s`` (gaps interpolated): what Holt-Winters needs."""
    t = np.asarray(ts, dtype=float)
    y = np.asarray(ys, dtype=float)
    idx = np.floor((t - t[0]) / step_s).astype(int)
    sums = np.bincount(idx, weights=y)
    counts = np.bincount(idx)
    grid = np.arange(idx[-1] + 1)
    have = counts > 0
    means = np.interp(grid, grid[have], sums[have] / counts[have])
    return t[0] + (grid + 0.5) * step_s, means


def detect_season(y: np.ndarray, periods: Sequence[int], min_acf: float = 0.4) -> int | None:
    """The candidate period whose lag autocorrelation is strongest once the trend (a moving
    average over one period, which any smooth growth curve survives) is taken out."""
    best, best_acf = None, min_acf
    for p in periods:
        if p < 2 or y.size < 2 * p + 2:
            continue
        trend = np.convolve(y, np.ones(p) / p, mode="valid")
        r = y[p // 2 : p // 2 + trend.size] - trend
        r = r - r.mean()  # an even window sits half a step off: a constant offset
        var = float((r**2).sum())
        # rounding residue of an exact curve is not a cycle
        if var <= (1e-6 * float(np.abs(y).mean())) ** 2 * r.size or r.size <= p:
            continue
        acf = float((r[p:] * r[:-p]).sum()) / var
        if acf > best_acf:
            best, best_acf = p, acf
    return best


def select_model(
    t: np.ndarray,
    y: np.ndarray,
    season: int | None = None,
    *,
    holdout: float = 0.2,
    parsimony: float = 0.1,
    cache: dict[str, Any] | None = None,
) -> Selection | None:
    """Fit every model on the first part, score the relative mean absolute error on the
    last ``holdout`` share, refit the winner on everything. Linear wins unless another
    model is better by ``parsimony`` (10%): a near tie extrapolates no better.

    ``cache`` (kept per series between refits) holds Holt-Winters' smoothing weights:
    they are re-optimised every ``HW_REOPTIMISE_EVERY`` refits, and between those the
    fits only run the filter, which is most of what makes a refit cheap."""
    n = y.size
    h = max(3, int(n * holdout))
    if n - h < 4:
        return None
    scale = float(np.mean(np.abs(y[-h:]))) or 1.0
    scores: dict[str, float] = {}
    fitted: dict[str, Fitted] = {}
    reuse = None
    if (
        cache is not None
        and cache.get("hw_season") == season
        and cache.get("hw_params")
        and cache.get("hw_uses", 0) < HW_REOPTIMISE_EVERY
    ):
        reuse = cache["hw_params"]
    for name, fit in MODELS.items():
        m: Fitted | None
        if name == "holt_winters":
            m = fit_holt_winters(t[:-h], y[:-h], season, params=reuse)
        else:
            m = fit(t[:-h], y[:-h], season)
        if m is None:
            continue
        fitted[name] = m
        pred, _, _ = m.predict(t[-h:])
        err = float(np.mean(np.abs(pred - y[-h:]))) / scale
        if np.isfinite(err):
            scores[name] = err
    hw = fitted.get("holt_winters")
    if cache is not None and isinstance(hw, HoltWinters):
        cache["hw_uses"] = cache.get("hw_uses", 0) + 1 if reuse else 0
        cache["hw_params"], cache["hw_season"] = hw.params, season
    if not scores:
        return None
    best = min(scores, key=scores.__getitem__)
    if "linear" in scores and scores[best] > scores["linear"] * (1 - parsimony):
        best = "linear"
    if isinstance(hw, HoltWinters) and best == "holt_winters":
        model: Fitted | None = fit_holt_winters(t, y, season, params=hw.params)
    else:
        model = MODELS[best](t, y, season)
    if model is None:
        return None
    return Selection(best, model, scores[best], scores)


def _crossing(model: Fitted, t0: float, threshold: float, limit_days: int) -> float | None:
    """Days from ``t0`` until the mean forecast first reaches ``threshold`` (hourly grid)."""
    grid = t0 + np.arange(1, limit_days * 24 + 1) / 24.0
    mean, _, _ = model.predict(grid)
    above = np.nonzero(mean >= threshold)[0]
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return 1 / 24.0
    # interpolate between the last hour below and the first at or above
    m0, m1 = float(mean[i - 1]), float(mean[i])
    frac = (threshold - m0) / (m1 - m0) if m1 != m0 else 1.0
    return (i + frac) / 24.0


def build_forecast(
    ts: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    cc: CapacityConfig,
    *,
    series: str,
    name: str,
    host: str = "",
    labels: Mapping[str, str] | None = None,
    capacity: float | None = None,
    seasons_s: Sequence[float] = (DAY, 7 * DAY),
    now: float | None = None,
    cache: dict[str, Any] | None = None,
) -> CapacityForecast | None:
    """Fit, select and describe one series' history (epoch seconds, values)."""
    if len(ts) < 8 or ts[-1] - ts[0] < cc.min_history_hours * 3600:
        return None
    span = ts[-1] - ts[0]
    step_s = 3600.0 if span >= 3 * DAY else max(cc.bucket_seconds, span / 288)
    rt, ry = resample(ts, ys, step_s)
    t_days = (rt - rt[0]) / DAY
    season = detect_season(ry, [round(s / step_s) for s in seasons_s])
    sel = select_model(t_days, ry, season, cache=cache)
    if sel is None:
        return None
    if sel.name != "holt_winters":
        # Closed-form trends are refitted on the raw points: the hourly means only served
        # to choose, and with every point a linear trend is exactly predict_linear's.
        raw = MODELS[sel.name]((np.asarray(ts) - rt[0]) / DAY, np.asarray(ys, dtype=float))
        if raw is not None:
            sel = Selection(sel.name, raw, sel.score, sel.candidates)
    t_now = (ts[-1] - rt[0]) / DAY
    current = float(ys[-1])
    pts = []
    for d in HORIZONS:
        mean, lo, hi = sel.model.predict(np.array([t_now + d]))
        pts.append(ForecastPoint(horizon_days=d, value=float(mean[0]), lower=float(lo[0]),
                                 upper=float(hi[0])))  # fmt: skip
    warn = crit = ttw = ttc = None
    if capacity:
        warn, crit = capacity * cc.warning_percent / 100, capacity * cc.critical_percent / 100
        limit = cc.horizon_limit_days
        ttw, ttc = (
            0.0 if current >= thr else _to_s(_crossing(sel.model, t_now, thr, limit))
            for thr in (warn, crit)
        )
    pattern = _pattern(sel.name, current, pts[0].value, capacity)
    return CapacityForecast(
        id=new_id(),
        ts=time.time() if now is None else now,
        series=series,
        name=name,
        host=host,
        labels=dict(labels or {}),
        as_of=float(ts[-1]),
        model=sel.name,  # type: ignore[arg-type]
        fit_metric="holdout_relative_mae",
        fit_score=round(sel.score, 6),
        candidates={k: round(v, 6) for k, v in sel.candidates.items()},
        current_value=current,
        forecasts=pts,
        growth_pattern=pattern,  # type: ignore[arg-type]
        recommendation=_recommend(ttc, current, warn, pattern, cc),  # type: ignore[arg-type]
        history_points=len(ts),
        history_days=round(float(span) / DAY, 4),
        horizon_limit_days=cc.horizon_limit_days,
        capacity=capacity,
        warning_threshold=warn,
        critical_threshold=crit,
        time_to_warning_seconds=ttw,
        time_to_critical_seconds=ttc,
    )


def _to_s(days: float | None) -> float | None:
    return None if days is None else round(days * DAY, 1)


def _pattern(model: str, current: float, in_30d: float, capacity: float | None) -> str:
    scale = capacity or abs(current) or 1.0
    change = (in_30d - current) / scale
    if model != "holt_winters" and abs(change) < 0.02:
        return "stable"
    if change <= -0.02:
        return "declining"
    return _PATTERN[model]


def _recommend(
    ttc: float | None, current: float, warn: float | None, pattern: str, cc: CapacityConfig
) -> str:
    if ttc is not None and ttc <= cc.scale_up_days * DAY:
        return "scale_up"
    if ttc is not None and ttc <= cc.plan_days * DAY:
        return "plan"
    if warn is not None and current >= warn and pattern in ("stable", "declining"):
        return "optimize"  # high but not growing: reclaim rather than buy
    if pattern == "exponential":
        return "plan"
    return "monitor"
