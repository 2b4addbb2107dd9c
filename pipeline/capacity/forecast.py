"""Choose a trend model by hold-out error and turn it into a CapacityForecast. Pure."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.capacity.models import (
    INTERVAL_LEVEL,
    MODELS,
    Z90,
    Calibrated,
    Fitted,
    HoltWinters,
    fit_holt_winters,
    fit_linear,
    fit_log,
)
from pipeline.capacity.regimes import PENALTY, LinearCost, last_change, noise_sigma
from schemas.analytics import CapacityForecast, ForecastPoint
from schemas.config.analytics import CapacityConfig
from schemas.records import new_id

__all__ = [
    "Selection",
    "build_forecast",
    "detect_season",
    "recency_weights",
    "resample",
    "select_model",
]

DAY = 86400.0
#: Refits between re-optimisations of Holt-Winters' weights (hourly refits: daily).
HW_REOPTIMISE_EVERY = 24
HORIZONS = (30, 60, 90)
#: Recent points weigh more: weights halve every this share of the fitted span.
HALF_LIFE_SHARE = 0.5
#: Change points are searched on daily means from this much history on, finer before.
MIN_DAILY_SPAN_DAYS = 14
#: A regime shorter than this is not fitted alone (too few points to say its slope).
MIN_REGIME_DAYS = 1.0
#: The recent regime's line is reported when it reaches critical this much sooner.
EARLIER_SHARE = 0.2
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
    drift: float = 0.0


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


def recency_weights(t: np.ndarray, half_life: float) -> np.ndarray:
    """Weights halving every ``half_life`` (days) back from the last point."""
    return np.exp2(-(t[-1] - t) / half_life) if half_life > 0 else np.ones_like(t)


def select_model(
    t: np.ndarray,
    y: np.ndarray,
    season: int | None = None,
    *,
    holdout: float = 0.2,
    parsimony: float = 0.1,
    cache: dict[str, Any] | None = None,
    half_life: float = 0.0,
) -> Selection | None:
    """Fit every model on the first part, score the relative mean absolute error on the
    last ``holdout`` share, refit the winner on everything. Linear wins unless another
    model is better by ``parsimony`` (10%): a near tie extrapolates no better.

    ``half_life`` (days, 0 = off) weighs recent points more in the closed-form fits.
    The winner's hold-out errors beyond its own interval give ``drift`` (value units per
    day of lead), which ``Calibrated`` adds to its interval.

    ``cache`` (kept per series between refits) holds Holt-Winters' smoothing weights:
    they are re-optimised every ``HW_REOPTIMISE_EVERY`` refits, and between those the
    fits only run the filter, which is most of what makes a refit cheap."""
    n = y.size
    h = max(3, int(n * holdout))
    if n - h < 4:
        return None
    scale = float(np.mean(np.abs(y[-h:]))) or 1.0
    w_all = recency_weights(t, half_life) if half_life > 0 else None
    w_fit = recency_weights(t[:-h], half_life) if half_life > 0 else None
    scores: dict[str, float] = {}
    fitted: dict[str, Fitted] = {}
    drifts: dict[str, float] = {}
    reuse = None
    if (
        cache is not None
        and cache.get("hw_season") == season
        and cache.get("hw_params")
        and cache.get("hw_uses", 0) < HW_REOPTIMISE_EVERY
    ):
        reuse = cache["hw_params"]
    lead = t[-h:] - t[-h - 1]
    for name, fit in MODELS.items():
        m: Fitted | None
        if name == "holt_winters":
            m = fit_holt_winters(t[:-h], y[:-h], season, params=reuse)
        else:
            m = fit(t[:-h], y[:-h], season, w_fit)
        if m is None:
            continue
        fitted[name] = m
        pred, lo, hi = m.predict(t[-h:])
        err = np.abs(pred - y[-h:])
        score = float(np.mean(err)) / scale
        if np.isfinite(score):
            scores[name] = score
            se = (hi - lo) / (2 * Z90)
            excess = float(np.mean(err**2 - se**2))
            drifts[name] = math.sqrt(excess / float(np.mean(lead**2))) if excess > 0 else 0.0
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
        model = MODELS[best](t, y, season, w_all)
    if model is None:
        return None
    return Selection(best, model, scores[best], scores, drifts[best])


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


def _regime(
    ts: np.ndarray, ys: np.ndarray, span: float, step_s: float
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Start (epoch s) of the last regime when it differs from what came before, with the
    means the change was found on: daily (a daily cycle averages out), finer on a short
    history. None when the history is one regime."""
    cp_step = DAY if span >= MIN_DAILY_SPAN_DAYS * DAY else max(step_s, span / 28)
    _, means = resample(ts, ys, cp_step)
    cut = last_change(means)
    if cut is None or (means.size - cut) * cp_step < MIN_REGIME_DAYS * DAY:
        return None
    return float(ts[0] + cut * cp_step), means, np.asarray([cut, cp_step])


def _explains(sel: Selection, t0: float, means: np.ndarray, cut: int, cp_step: float) -> bool:
    """Whether the whole-history model already fits the last regime about as well as a
    fresh line through it does (a smooth curve cut into pieces): then no new regime."""
    if isinstance(sel.model, HoltWinters):
        return True  # a filter: its level and trend already follow the latest regime
    tail = means[cut:]
    centres = (np.arange(cut, means.size) + 0.5) * cp_step / DAY - t0
    pred, _, _ = sel.model.predict(centres)
    sse_model = float(((tail - pred) ** 2).sum())
    sse_line = LinearCost().fit(tail).error(0, tail.size)
    sigma = noise_sigma(means)
    return sse_model - sse_line <= PENALTY * sigma * sigma * np.log(means.size)


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
    ts_a, ys_a = np.asarray(ts, dtype=float), np.asarray(ys, dtype=float)
    span = float(ts_a[-1] - ts_a[0])
    step_s = 3600.0 if span >= 3 * DAY else max(cc.bucket_seconds, span / 288)
    rt, ry = resample(ts_a, ys_a, step_s)
    season = detect_season(ry, [round(s / step_s) for s in seasons_s])
    half_life = span / DAY * HALF_LIFE_SHARE
    sel = select_model((rt - rt[0]) / DAY, ry, season, cache=cache, half_life=half_life)
    if sel is None:
        return None
    origin, regime_start = float(rt[0]), None
    found = _regime(ts_a, ys_a, span, step_s)
    if found is not None:
        start, means, (cut, cp_step) = found
        keep_r, keep = rt >= start, ts_a >= start
        if not _explains(sel, (rt[0] - ts_a[0]) / DAY, means, int(cut), float(cp_step)) and (
            keep_r.sum() >= 12 and keep.sum() >= 8
        ):
            r_span = float(ts_a[-1] - start)
            r_sel = select_model(
                (rt[keep_r] - rt[keep_r][0]) / DAY, ry[keep_r],
                detect_season(ry[keep_r], [round(s / step_s) for s in seasons_s]),
                half_life=r_span / DAY * HALF_LIFE_SHARE,
            )  # fmt: skip
            if r_sel is not None:
                sel, origin, regime_start = r_sel, float(rt[keep_r][0]), start
                ts_a, ys_a, half_life = ts_a[keep], ys_a[keep], r_span / DAY * HALF_LIFE_SHARE
    t_raw = (ts_a - origin) / DAY
    if sel.name != "holt_winters":
        # Closed-form trends are refitted on the raw points: the hourly means only served
        # to choose, and with every point a linear trend is exactly predict_linear's.
        w = recency_weights(t_raw, half_life)
        if sel.name == "logarithmic":
            raw = fit_log(t_raw, ys_a, None, w, like=sel.model)
        else:
            raw = MODELS[sel.name](t_raw, ys_a, None, w)
        if raw is not None:
            sel = Selection(sel.name, raw, sel.score, sel.candidates, sel.drift)
    t_now = float(t_raw[-1])
    noise = 0.0
    if isinstance(sel.model, HoltWinters):  # fitted on hourly means: add the scatter in them
        noise = _within_bucket_sd(ts_a, ys_a, step_s)
    model: Fitted = Calibrated(sel.model, t_now, sel.drift, noise)
    current = float(ys_a[-1])
    pts = []
    for d in HORIZONS:
        mean, lo, hi = model.predict(np.array([t_now + d]))
        pts.append(ForecastPoint(horizon_days=d, value=float(mean[0]), lower=float(lo[0]),
                                 upper=float(hi[0])))  # fmt: skip
    warn = crit = ttw = ttc = early = None
    early_model = None
    if capacity:
        warn, crit = capacity * cc.warning_percent / 100, capacity * cc.critical_percent / 100
        limit = cc.horizon_limit_days
        ttw, ttc = (
            0.0 if current >= thr else _to_s(_crossing(model, t_now, thr, limit))
            for thr in (warn, crit)
        )
        if current < crit and sel.name != "linear":
            early = _earlier(t_raw, ys_a, half_life, crit=crit, ttc=ttc, limit=limit)
            early_model = "linear" if early is not None else None
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
        recommendation=_recommend(ttc if early is None else early, current, warn, pattern, cc),  # type: ignore[arg-type]
        history_points=len(ts),
        history_days=round(span / DAY, 4),
        horizon_limit_days=cc.horizon_limit_days,
        capacity=capacity,
        warning_threshold=warn,
        critical_threshold=crit,
        time_to_warning_seconds=ttw,
        time_to_critical_seconds=ttc,
        regime_start=regime_start,
        earlier_time_to_critical_seconds=early,
        earlier_critical_model=early_model,  # type: ignore[arg-type]
        interval_level=INTERVAL_LEVEL,
    )


def _within_bucket_sd(ts: np.ndarray, ys: np.ndarray, step_s: float) -> float:
    idx = np.floor((ts - ts[0]) / step_s).astype(int)
    counts = np.bincount(idx)
    means = np.bincount(idx, weights=ys) / np.maximum(counts, 1)
    resid = ys - means[idx]
    dof = max(ts.size - int((counts > 0).sum()), 1)
    return math.sqrt(float((resid**2).sum()) / dof)


def _earlier(
    t: np.ndarray, y: np.ndarray, half_life: float, *, crit: float, ttc: float | None, limit: int
) -> float | None:
    """Seconds to critical of a (recency-weighted) line through the regime, when that is
    clearly (``EARLIER_SHARE``) sooner than the chosen model's: a late warning is then not
    the only one."""
    line = fit_linear(t, y, None, recency_weights(t, half_life))
    if line is None:
        return None
    days = _crossing(line, float(t[-1]), crit, limit)
    if days is None or (ttc is not None and days * DAY > ttc * (1 - EARLIER_SHARE)):
        return None
    return _to_s(days)


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
