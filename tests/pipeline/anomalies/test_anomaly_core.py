"""The pure anomaly core: MAD scores, STL on a daily cycle, the leak detector."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from pipeline.anomalies.leak import LeakParams, LeakState, observe_rss
from pipeline.anomalies.records import leak_anomaly, score_anomaly
from pipeline.anomalies.scoring import ScoreParams, SeriesState, score_value
from schemas import WindowAggregate, decode, encode
from schemas.jsonschema_files import load

DAY = 86400.0


def agg(name: str = "cpu", value: float = 1.0, ts: float = 0.0) -> WindowAggregate:
    return WindowAggregate(
        id="i", series=f'{name}{{host="h"}}', name=name, host="h", window_start=ts - 10,
        window_end=ts, count=1, sum=value, min=value, max=value, mean=value, last=value,
    )  # fmt: skip


def test_mad_flags_a_spike_and_not_the_noise() -> None:
    rng = np.random.default_rng(1)
    st, p = SeriesState(), ScoreParams()
    scores = [score_value(st, 50 + rng.normal(), float(i), p) for i in range(300)]
    flagged = [s for s in scores if s is not None and s.is_anomaly(p.threshold)]
    assert flagged == []
    spike = score_value(st, 80.0, 300.0, p)
    assert spike is not None and spike.method == "mad" and spike.score > 6
    assert spike.lower < 50 < spike.upper < 80


def test_flat_series_has_a_finite_scale() -> None:
    st, p = SeriesState(), ScoreParams()
    for i in range(30):
        score_value(st, 5.0, float(i), p)
    s = score_value(st, 5.0, 31.0, p)
    assert s is not None and s.score == 0.0


def daily(ts: float) -> float:
    return 100 + 40 * np.sin(2 * np.pi * ts / DAY)


def test_stl_catches_an_off_phase_value_that_mad_misses() -> None:
    rng = np.random.default_rng(2)
    p = ScoreParams(history=120)
    st = SeriesState()
    step = 600.0  # 10-minute windows, 4 days
    ts = np.arange(0, 4 * DAY, step)
    flagged = 0
    for t in ts:
        s = score_value(st, daily(t) + rng.normal(0, 2), t, p)
        flagged += s is not None and s.is_anomaly(p.threshold)
    assert st.seasonal[0].strength > 0.9
    assert flagged <= 1  # the cycle itself is not anomalous
    # At the trough (~60) a value of 140 is normal for the day as a whole, not for now.
    t_trough = 4 * DAY + 0.75 * DAY
    for t in np.arange(ts[-1] + step, t_trough, step):
        score_value(st, daily(t) + rng.normal(0, 2), t, p)
    s = score_value(st, 140.0, t_trough, p)
    assert s is not None and s.method == "stl" and s.score > p.threshold
    assert s.expected == pytest.approx(60, abs=8)
    mad_only = SeriesState()
    p_mad = ScoreParams(history=120, periods_s=())
    for t in np.arange(4 * DAY, t_trough, step):
        score_value(mad_only, daily(t), t, p_mad)
    assert not score_value(mad_only, 140.0, t_trough, p_mad).is_anomaly(p.threshold)


def test_state_round_trips_through_json() -> None:
    st, p = SeriesState(), ScoreParams()
    for i in range(50):
        score_value(st, float(i % 7), i * 600.0, p)
    again = SeriesState.restore(json.loads(json.dumps(st.snapshot())))
    assert again == st


LP = LeakParams(bucket_s=300, min_hours=2, min_growth_percent=10, cooldown_s=3600)


def feed_rss(fn, hours: float, free: float | None = None):
    st, found = LeakState(), []
    for t in np.arange(0, hours * 3600, 60.0):
        v = observe_rss(st, float(t), float(fn(t)), LP, free)
        if v is not None:
            found.append((t, v))
    return found


def test_steady_growth_is_a_leak_with_time_to_exhaustion() -> None:
    rate = 50e6  # bytes per hour
    found = feed_rss(lambda t: 200e6 + rate * t / 3600, 4, free=2e9)
    assert found
    t, v = found[0]
    assert t < 3 * 3600
    assert v.growth_per_hour == pytest.approx(rate, rel=0.02)
    assert v.time_to_exhaustion_s == pytest.approx(2e9 / (rate / 3600), rel=0.02)
    assert len(found) == 2  # a second one only after the cooldown


def test_sawtooth_and_flat_are_not_leaks() -> None:
    def sawtooth(t):
        return 200e6 + 100e6 * ((t % 1800) / 1800)

    assert feed_rss(sawtooth, 6) == []
    rng = np.random.default_rng(3)
    assert feed_rss(lambda t: 200e6 + rng.normal(0, 5e6), 6) == []


def test_anomaly_records_validate() -> None:
    schema = load("toka.anomaly.v1")
    st, p = SeriesState(), ScoreParams()
    for i in range(30):
        score_value(st, 10.0 + (i % 3), float(i), p)
    sc = score_value(st, 50.0, 31.0, p)
    rec = score_anomaly(agg(value=50.0, ts=31.0), "mean", 50.0, sc, threshold=p.threshold)
    _, v = feed_rss(lambda t: 100e6 + 50e6 * t / 3600, 3, free=1e9)[0]
    leak = leak_anomaly(agg("process_resident_memory_bytes", v.current), v)
    for r in (rec, leak):
        jsonschema.validate(json.loads(encode(r)), schema)
        assert decode(encode(r)) == r
    assert rec.kind == "spike" and leak.kind == "leak_suspect" and leak.growth_per_hour > 0
