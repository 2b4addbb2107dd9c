"""Trend models for capacity: linear, exponential, logarithmic, Holt-Winters.

Each fit takes time in days (``t``, increasing) and values ``y`` and returns a Fitted that
predicts the mean and a 90% prediction interval at future times. Linear, exponential and
logarithmic are (weighted) least squares on a transformed axis (closed form, microseconds);
the intervals are the WLS prediction interval on that axis, with the effective sample size
of the weights. Holt-Winters is statsmodels' ExponentialSmoothing with additive trend and
season, on evenly spaced points. ``Calibrated`` widens any of them by the error growth the
model showed on its hold-out (forecast.select_model), which is what keeps a misspecified
or short fit's interval honest.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Calibrated",
    "Fitted",
    "HoltWinters",
    "MODELS",
    "fit_exponential",
    "fit_holt_winters",
    "fit_linear",
    "fit_log",
]

#: Intervals are 90% (two-sided): z of the normal at 0.95.
Z90 = 1.6449
INTERVAL_LEVEL = 0.9
HW_MAX_POINTS = 504  # three weeks of hourly points: 21 daily cycles


class Fitted(Protocol):
    @property
    def name(self) -> str: ...

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True, slots=True)
class _LeastSquares:
    """y' = a + b x' where x' = fx(t) and y = fy_inv(y'); a, b and OLS interval terms."""

    name: str
    a: float
    b: float
    s: float
    n: int
    xbar: float
    sxx: float
    x_shift: float
    log_x: bool
    log_y: bool

    def _x(self, t: np.ndarray) -> np.ndarray:
        return np.log(t + self.x_shift) if self.log_x else t

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._x(np.asarray(t, dtype=float))
        mean = self.a + self.b * x
        se = self.s * np.sqrt(1.0 + 1.0 / self.n + (x - self.xbar) ** 2 / self.sxx)
        lo, hi = mean - Z90 * se, mean + Z90 * se
        if self.log_y:
            # exp() of large extrapolations overflows to inf: cap at a huge finite value
            return tuple(np.exp(np.minimum(v, 700.0)) for v in (mean, lo, hi))  # type: ignore[return-value]
        return mean, lo, hi


def _ols(
    name: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, **kw: object
) -> _LeastSquares | None:
    """Weighted least squares; ``n`` is the weights' effective sample size (Kish), so a
    recency-weighted fit does not claim the certainty of every old point."""
    if x.size < 3:
        return None
    if w is None:
        w = np.ones_like(x)
    sw = float(w.sum())
    n = sw * sw / float((w * w).sum())
    xbar = float((w * x).sum() / sw)
    ybar = float((w * y).sum() / sw)
    sxx_w = float((w * (x - xbar) ** 2).sum())
    if sxx_w <= 0 or n < 3:
        return None
    b = float((w * (x - xbar) * (y - ybar)).sum() / sxx_w)
    a = ybar - b * xbar
    resid = y - (a + b * x)
    s = math.sqrt(float((w * resid**2).sum()) / sw * n / max(n - 2, 1))
    sxx = sxx_w / sw * n  # the spread of x as if from n equally weighted points
    return _LeastSquares(name, a, b, s, int(round(n)), xbar, sxx, **kw)  # type: ignore[arg-type]


def fit_linear(
    t: np.ndarray, y: np.ndarray, season: int | None = None, w: np.ndarray | None = None
) -> Fitted | None:
    return _ols("linear", t, y, w, x_shift=0.0, log_x=False, log_y=False)


def fit_exponential(
    t: np.ndarray, y: np.ndarray, season: int | None = None, w: np.ndarray | None = None
) -> Fitted | None:
    if (y <= 0).any():
        return None
    return _ols("exponential", t, np.log(y), w, x_shift=0.0, log_x=False, log_y=True)


def fit_log(
    t: np.ndarray,
    y: np.ndarray,
    season: int | None = None,
    w: np.ndarray | None = None,
    like: Fitted | None = None,
) -> Fitted | None:
    """y = a + b ln(t - t0 + c), with the offset c chosen by least squares on a grid.

    The offset sets how fast growth decelerates: a small c bends early, a large c is
    nearly straight. Fitting it is what lets this model follow saturating growth.
    With ``like`` (a log fit on the same time axis, e.g. on hourly means) its offset is
    kept and only a and b are refitted: a 25-fold saving on every raw point.
    """
    span = float(t[-1] - t[0])
    if span <= 0:
        return None
    best: _LeastSquares | None = None
    best_sse = np.inf
    shifts = span * np.geomspace(0.005, 2.0, 25) - float(t[0])
    if isinstance(like, _LeastSquares) and like.log_x and float(t[0]) + like.x_shift > 0:
        shifts = np.array([like.x_shift])
    for shift in shifts.tolist():
        m = _ols("logarithmic", np.log(t + shift), y, w, x_shift=shift, log_x=True, log_y=False)
        if m is not None and m.s < best_sse:
            best, best_sse = m, m.s
    return best


@dataclass(frozen=True, slots=True)
class HoltWinters:
    """The fitted end state: level, trend and one season. Additive Holt-Winters forecasts
    are closed-form from it (level + h trend + season), so no forecast run is needed."""

    name: str
    t_last: float
    step: float
    level: float
    trend: float
    season: np.ndarray
    sigma: float
    alpha: float
    params: dict[str, float]

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=float)
        h = np.maximum(np.rint((t - self.t_last) / self.step).astype(int), 1)
        mean = self.level + h * self.trend + self.season[(h - 1) % self.season.size]
        # ETS(A,A,N) variance (Hyndman et al. 2008, class 1): the sum over j < h of
        # (alpha + beta j)^2, beta = alpha * smoothing_trend; the trend term is what makes
        # a month ahead uncertain, the level term alone would not widen with the lead.
        a = self.alpha
        b = a * self.params.get("smoothing_trend", 0.0)
        k = (h - 1).astype(float)
        spread = k * a * a + a * b * k * (k + 1) + b * b * k * (k + 1) * (2 * k + 1) / 6
        se = self.sigma * np.sqrt(1.0 + spread)
        return mean, mean - Z90 * se, mean + Z90 * se


def fit_holt_winters(
    t: np.ndarray,
    y: np.ndarray,
    season: int | None = None,
    w: np.ndarray | None = None,
    params: dict[str, float] | None = None,
) -> HoltWinters | None:
    """Additive trend and season; needs evenly spaced points and two full seasons.

    With ``params`` (smoothing weights from the hold-out fit) the weights are not
    re-optimised: the final fit only runs the filter over all points, at half the cost.
    Weights ``w`` are ignored: the smoothing already weighs recent points more.
    """
    if season is None or season < 2 or y.size < 2 * season + 2:
        return None
    # The recent past carries the season; a cap keeps the fit cost flat.
    keep = max(HW_MAX_POINTS, 2 * season + 2)
    t, y = t[-keep:], y[-keep:]
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a bad fit loses on hold-out
        try:
            model = ExponentialSmoothing(
                y, trend="add", seasonal="add", seasonal_periods=season,
                initialization_method="heuristic",
            )  # fmt: skip
            res = model.fit(**params, optimized=False) if params else model.fit(use_brute=False)
        except (ValueError, np.linalg.LinAlgError):
            return None
    resid = y - res.fittedvalues
    p = res.params
    weights = {k: float(p[k]) for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal")}
    return HoltWinters(
        "holt_winters", float(t[-1]), float(np.median(np.diff(t))),
        float(res.level[-1]), float(res.trend[-1]), np.asarray(res.season)[-season:],
        float(np.sqrt(np.mean(resid**2))), weights["smoothing_level"], weights,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A fitted model whose interval also carries ``drift`` (value units per day of lead):
    the error growth beyond the model's own interval that it showed on its hold-out, and
    ``noise``: the scatter of single points about the means a model was fitted on."""

    model: Fitted
    t_last: float
    drift: float
    noise: float = 0.0  # raw-point scatter a model fitted on means does not see

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, lo, hi = self.model.predict(t)
        lead = np.maximum(np.asarray(t, dtype=float) - self.t_last, 0.0)
        extra = Z90 * np.hypot(self.drift * lead, self.noise)
        # the two errors are independent: add in quadrature, on each side
        return (mean, mean - np.hypot(mean - lo, extra), mean + np.hypot(hi - mean, extra))


MODELS = {
    "linear": fit_linear,
    "exponential": fit_exponential,
    "logarithmic": fit_log,
    "holt_winters": fit_holt_winters,
}
