"""The pure capacity core: model selection, thresholds, patterns, history buckets."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from pipeline.capacity.forecast import build_forecast, detect_season, select_model
from pipeline.capacity.history import Meta, expire, ingest
from schemas import decode, encode
from schemas.config.analytics import CapacityConfig
from schemas.jsonschema_files import load

DAY = 86400.0
CC = CapacityConfig(min_history_hours=1)


def series(fn, days: float, step_s: float = 300.0, noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    ts = 1.7e9 + np.arange(0, days * DAY, step_s)
    d = (ts - ts[0]) / DAY
    return ts, fn(d) * (1 + noise * rng.standard_normal(ts.size))


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda d: 100 + 3 * d, "linear"),
        (lambda d: 100 * np.exp(0.05 * d), "exponential"),
        (lambda d: 100 + 40 * np.log1p(d * 4), "logarithmic"),
        (lambda d: 100 + d + 20 * np.sin(2 * np.pi * d), "holt_winters"),
    ],
)
def test_selection_picks_the_generating_shape(fn, expected: str) -> None:
    ts, ys = series(fn, 30, step_s=3600, noise=0.003)
    t = (ts - ts[0]) / DAY
    season = detect_season(ys, [24, 168])
    sel = select_model(t, ys, season)
    assert sel is not None and sel.name == expected, sel and sel.candidates


def test_no_season_detected_on_a_straight_line() -> None:
    _, ys = series(lambda d: 100 + 3 * d, 30, step_s=3600, noise=0.01)
    assert detect_season(ys, [24, 168]) is None


def test_time_to_critical_and_recommendation_scale_up() -> None:
    ts, ys = series(lambda d: 80e9 + 2e9 * d, 3, noise=0.001)
    fc = build_forecast(ts, ys, CC, series="s", name="system_disk_used_bytes", capacity=100e9)
    assert fc is not None
    truth = (90e9 - (80e9 + 2e9 * (ts[-1] - ts[0]) / DAY)) / 2e9 * DAY
    assert fc.time_to_critical_seconds == pytest.approx(truth, rel=0.05)
    assert fc.time_to_warning_seconds == 0.0  # already above 80%
    assert fc.recommendation == "scale_up" and fc.growth_pattern == "linear"
    jsonschema.validate(json.loads(encode(fc)), load("toka.capacity_forecast.v1"))
    assert decode(encode(fc)) == fc


def test_flat_high_usage_recommends_optimize() -> None:
    ts, ys = series(lambda d: 85e9 + 0 * d, 3, noise=0.001)
    fc = build_forecast(ts, ys, CC, series="s", name="m", capacity=100e9)
    assert fc.growth_pattern == "stable" and fc.time_to_critical_seconds is None
    assert fc.recommendation == "optimize"


def test_without_capacity_there_are_no_thresholds() -> None:
    ts, ys = series(lambda d: 10 + d, 2)
    fc = build_forecast(ts, ys, CC, series="s", name="m")
    assert fc.capacity is None and fc.time_to_critical_seconds is None
    assert fc.recommendation == "monitor"


def test_too_little_history_gives_nothing() -> None:
    ts, ys = series(lambda d: 10 + d, 0.02)
    assert build_forecast(ts, ys, CapacityConfig(), series="s", name="m") is None


def test_history_buckets_means_and_drops_late_points() -> None:
    meta = Meta("disk", "h", {})
    assert ingest(meta, 10.0, 1.0, 300) is None
    assert ingest(meta, 20.0, 3.0, 300) is None
    assert ingest(meta, 310.0, 5.0, 300) == (150.0, 2.0)
    assert ingest(meta, 50.0, 100.0, 300) is None  # older than the open bucket
    assert meta.points == 1 and meta.days == [0]
    restored = Meta.restore(json.loads(json.dumps(meta.snapshot())))
    assert restored == meta


def test_history_expires_whole_days() -> None:
    meta = Meta("disk", "h", {})
    for day in range(5):
        ingest(meta, day * DAY + 10, 1.0, 300)
    assert meta.days == [0, 1, 2, 3]  # day 4 is the open bucket
    assert expire(meta, retention_days=2) == [0]
    assert meta.days == [1, 2, 3] and meta.first_ts == DAY


def test_holt_winters_weights_are_cached_between_refits() -> None:
    ts, ys = series(lambda d: 100 + d + 20 * np.sin(2 * np.pi * d), 20, noise=0.003)
    cache: dict = {}
    first = build_forecast(ts[:-12], ys[:-12], CC, series="s", name="m", cache=cache)
    assert first.model == "holt_winters" and cache["hw_uses"] == 0
    weights = dict(cache["hw_params"])
    second = build_forecast(ts, ys, CC, series="s", name="m", cache=cache)
    assert second.model == "holt_winters" and cache["hw_uses"] == 1
    assert cache["hw_params"] == weights  # reused, not re-optimised
    assert json.loads(json.dumps(cache)) == cache  # lives in the table with the history
    d = (second.as_of - ts[0]) / DAY + 30
    assert second.forecasts[0].value == pytest.approx(
        100 + d + 20 * np.sin(2 * np.pi * d), rel=0.03
    )
