"""Capacity on real-shaped histories: regime changes, recency, earlier crossings, intervals,
and state written by the previous version."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import ruptures as rpt

from pipeline.capacity.forecast import build_forecast
from pipeline.capacity.history import Meta
from pipeline.capacity.models import Calibrated, fit_holt_winters, fit_linear
from pipeline.capacity.regimes import LinearCost, last_change
from schemas import decode, encode
from schemas.analytics import CapacityForecast
from schemas.config.analytics import CapacityConfig
from schemas.jsonschema_files import load

DAY = 86400.0
CC = CapacityConfig()
FIXTURES = Path(__file__).parent / "fixtures"


def history(fn, days: float = 60, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    ts = 1.7e9 + np.arange(0, days * DAY, 300.0)
    d = (ts - ts[0]) / DAY
    return ts, d, fn(d) * (1 + noise * rng.standard_normal(d.size))


def true_days_to(fn, now: float, level: float) -> float:
    grid = now + np.arange(1, 365 * 24) / 24
    return float(grid[np.nonzero(fn(grid) >= level)[0][0]] - now)


def cleanup(d):
    return 40 + 0.5 * d - 20 * (d >= 35)


def speed_up(d):
    return 30 + 0.25 * d + 0.5 * np.maximum(d - 50, 0)


@pytest.mark.parametrize(("fn", "change_day"), [(cleanup, 35), (speed_up, 50)])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_regime_change_is_found_and_only_the_history_after_it_is_fitted(
    fn, change_day: float, seed: int
) -> None:
    ts, d, ys = history(fn, seed=seed)
    fc = build_forecast(ts, ys, CC, series="s", name="disk", capacity=100.0)
    assert fc is not None and fc.regime_start is not None
    assert abs((fc.regime_start - ts[0]) / DAY - change_day) <= 2
    truth = true_days_to(fn, d[-1], 90.0)
    assert fc.time_to_critical_seconds is not None
    assert abs(fc.time_to_critical_seconds / DAY - truth) <= 0.1 * truth
    at30 = float(fn(np.array([d[-1] + 30]))[0])
    assert abs(fc.forecasts[0].value - at30) < 1.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda d: 40 + 0.5 * d,
        lambda d: 20 * np.exp(0.02 * d),
        lambda d: 30 + 0.1 * d + 3 * np.floor(d / 5),  # a batch lands every 5 days
    ],
    ids=["linear", "exponential", "staircase"],
)
def test_one_regime_or_a_recurring_pattern_is_not_cut(fn) -> None:
    ts, _, ys = history(fn)
    fc = build_forecast(ts, ys, CC, series="s", name="disk", capacity=200.0)
    assert fc is not None and fc.regime_start is None


def test_a_line_that_crosses_clearly_earlier_is_reported_with_its_model() -> None:
    ts, _, ys = history(lambda d: 100 * (1 - np.exp(-d / 40)), noise=0.002)
    fc = build_forecast(ts, ys, CC, series="s", name="disk", capacity=100.0)
    assert fc is not None and fc.model != "linear"
    assert fc.earlier_critical_model == "linear"
    early = fc.earlier_time_to_critical_seconds
    assert early is not None
    assert fc.time_to_critical_seconds is None or early < 0.8 * fc.time_to_critical_seconds
    if early <= CC.plan_days * DAY:
        assert fc.recommendation in ("plan", "scale_up")
    # a record with the new fields validates against the regenerated JSON Schema
    jsonschema.validate(json.loads(encode(fc)), load("toka.capacity_forecast.v1"))
    assert decode(encode(fc)) == fc


def test_records_of_the_previous_version_decode_with_the_new_fields_absent() -> None:
    ts, _, ys = history(lambda d: 40 + 0.5 * d, days=10)
    fc = build_forecast(ts, ys, CC, series="s", name="disk", capacity=100.0)
    assert fc is not None and fc.interval_level == 0.9
    old = json.loads(encode(fc))
    for key in ("regime_start", "earlier_time_to_critical_seconds", "interval_level"):
        old.pop(key, None)
    back = decode(json.dumps(old).encode())
    assert isinstance(back, CapacityForecast)
    assert back.regime_start is None and back.interval_level == 0.95  # what v1 emitted


@pytest.mark.parametrize(("start", "end"), [(0, 10), (5, 40), (30, 89), (0, 90)])
def test_prefix_sum_cost_equals_ruptures_linear_cost(start: int, end: int) -> None:
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.standard_normal(90)) + 0.3 * np.arange(90)
    theirs = rpt.costs.CostLinear().fit(np.column_stack([y, np.ones(90), np.arange(90.0)]))
    assert LinearCost().fit(y).error(start, end) == pytest.approx(
        theirs.error(start, end), rel=1e-6, abs=1e-6
    )


@pytest.mark.parametrize("noise", [0.001, 0.02])
def test_last_change_of_level_and_of_slope(noise: float) -> None:
    rng = np.random.default_rng(4)
    d = np.arange(90.0)
    level = 50 + 0.5 * d - 20 * (d >= 60)
    slope = 50 + 0.3 * d + 0.6 * np.maximum(d - 75, 0)
    for y, at, slack in ((level, 60, 1), (slope, 75, 4)):  # a bend is placed less sharply
        found = last_change(y * (1 + noise * rng.standard_normal(90)))
        assert found is not None and abs(found - at) <= slack
    assert last_change((50 + 0.5 * d) * (1 + noise * rng.standard_normal(90))) is None


def test_intervals_widen_with_hold_out_drift_and_holt_winters_trend() -> None:
    t = np.arange(100.0)
    line = fit_linear(t, 2 * t + np.random.default_rng(1).standard_normal(100))
    assert line is not None
    plain, wider = Calibrated(line, 99.0, 0.0), Calibrated(line, 99.0, 0.5)
    far = np.array([129.0])
    assert (wider.predict(far)[2] - wider.predict(far)[1]) > (
        plain.predict(far)[2] - plain.predict(far)[1]
    ) + 2 * 1.64 * 0.5 * 30 * 0.9
    y = 50 + 0.2 * t + 5 * np.sin(2 * np.pi * t / 24)
    hw = fit_holt_winters(t, y + np.random.default_rng(2).standard_normal(100), 24)
    assert hw is not None
    w = [float(np.diff(np.asarray(hw.predict(np.array([99.0 + h]))[1:]), axis=0)[0][0])
         for h in (1, 24, 240)]  # fmt: skip
    assert w[0] < w[1] < w[2]


def test_history_state_written_by_the_previous_version_restores_and_refits() -> None:
    data = json.loads((FIXTURES / "meta_v1.json").read_text())
    meta = Meta.restore(data["meta"])
    assert meta.fit_cache.get("hw_params") and meta.points == meta.fitted_points > 0
    assert Meta.restore(meta.snapshot()) == meta
    uses = meta.fit_cache["hw_uses"]
    ts = 1.7e9 + np.arange(0, 10 * DAY, 300.0)
    d = (ts - ts[0]) / DAY
    ys = 50e9 + 1e9 * d + 2e9 * np.sin(2 * np.pi * d)
    fc = build_forecast(
        ts, ys, CC, series=meta.series, name=meta.name, capacity=meta.capacity,
        cache=meta.fit_cache,
    )  # fmt: skip
    assert fc is not None and fc.model == "holt_winters"
    assert meta.fit_cache["hw_uses"] == uses + 1  # the cached weights were reused
