"""Counter rates (with resets) and Prometheus histograms merged bucket-wise."""

from __future__ import annotations

import pytest

from pipeline.windows import WindowStore
from pipeline.windows.aggregate import Pane, _bucket_quantiles

from .helpers import batch, sample


def run_counter(points: list[tuple[float, float]], size: float = 10.0) -> list:
    store = WindowStore([size], grace=0.0)
    out = []
    for ts, v in points:
        store.add_batch(batch(ts, [sample("req_total", v, type="counter")]), now=ts)
        out.extend(store.close_due(now=ts))
    store.add_batch(batch(1e4, [sample("other", 0.0)]), now=1e4)  # close everything
    out.extend(a for a in store.close_due(now=1e4) if a.name == "req_total")
    return out


@pytest.mark.parametrize(
    ("points", "rates"),
    [
        # Steady 5/s, one sample per window: the rate uses the previous window's last point.
        ([(100, 0), (110, 50), (120, 100), (130, 150)], [None, 5.0, 5.0, 5.0]),
        # Several samples per window.
        ([(100, 0), (102, 4), (108, 16), (111, 22)], [2.0, 2.0]),
        # A reset (process restart): 40 -> 10 means 10 new, not -30.
        ([(100, 0), (110, 40), (120, 10), (130, 30)], [None, 4.0, 1.0, 2.0]),
        # A reset inside a window.
        ([(100, 100), (103, 130), (106, 3), (109, 9)], [pytest.approx((30 + 3 + 6) / 9)]),
    ],
)
def test_counter_rate_with_resets(points, rates) -> None:
    aggs = run_counter([(float(t), float(v)) for t, v in points])
    assert [a.rate for a in aggs] == rates
    assert all(a.type == "counter" for a in aggs)


def test_counter_rate_across_a_gap_uses_the_last_point_before() -> None:
    aggs = run_counter([(100.0, 0.0), (150.0, 100.0)])
    assert [a.rate for a in aggs] == [None, 2.0]


def test_thinned_counter_points_keep_the_increase_exact() -> None:
    pane = Pane()
    vals = [0, 5, 9, 2, 7, 1, 4]  # two resets
    pane.points = [(float(i), float(v)) for i, v in enumerate(vals)]
    pane.thin()
    assert len(pane.points) == 2
    truth = 5 + 4 + 2 + 5 + 1 + 3
    first, last = pane.points[0][1], pane.points[-1][1]
    assert pane.carried + (last - first if last >= first else last) == truth


def test_many_counter_points_in_one_pane_stay_bounded_and_exact() -> None:
    pts = [(100.0 + i * 0.01, float(i % 300)) for i in range(900)]  # resets every 300
    (agg,) = run_counter(pts)
    # 0..299 three times: 299 + 300*2 ... each reset at 0 adds 0.
    increase = 299 * 3
    assert agg.rate == pytest.approx(increase / (pts[-1][0] - pts[0][0]))


def hist(ts: float, count: float, buckets: list[tuple[float, float]], total: float):
    return batch(ts, [sample("lat", count, type="histogram", buckets=buckets, sum=total)])


def test_histogram_buckets_merge_as_window_increase() -> None:
    store = WindowStore([10.0], grace=0.0)
    store.add_batch(hist(100.0, 10, [(0.1, 5), (1.0, 9)], 4.0), now=100)
    store.add_batch(hist(105.0, 20, [(0.1, 8), (1.0, 18)], 9.0), now=105)
    store.add_batch(hist(110.0, 40, [(0.1, 10), (1.0, 36)], 20.0), now=110)
    store.add_batch(hist(115.0, 5, [(0.1, 5), (1.0, 5)], 1.0), now=115)  # reset
    store.add_batch(batch(130.0, [sample("x", 0)]), now=130)
    a1, a2 = [a for a in store.close_due(now=130) if a.name == "lat"]
    # First window: no point before it, so the first point is the baseline.
    assert a1.buckets == [(0.1, 3.0), (1.0, 9.0)] and a1.observations == 10.0
    assert a1.observations_sum == 5.0 and a1.rate == 2.0
    # Second window: 20 -> 40 (increase) then a reset to 5 (all new).
    assert a2.buckets == [(0.1, 2.0 + 5.0), (1.0, 18.0 + 5.0)]
    assert a2.observations == 25.0 and a2.observations_sum == 11.0 + 1.0
    assert a2.rate == 25.0 / 10.0
    assert a2.type == "histogram" and a2.p50 is not None


@pytest.mark.parametrize(
    ("buckets", "total", "expected"),
    [
        # 100 observations spread evenly below 1.0: p50 interpolates to 0.5.
        ([(1.0, 100.0)], 100.0, [0.5, 0.9, 0.95, 0.99]),
        ([(0.1, 50.0), (0.2, 100.0)], 100.0, [0.1, 0.18, 0.19, pytest.approx(0.198)]),
        # Half the observations above the last finite bound: Prometheus reports that bound.
        ([(1.0, 50.0)], 100.0, [1.0, 1.0, 1.0, 1.0]),
        ([(1.0, 0.0)], 0.0, [None] * 4),
    ],
)
def test_bucket_quantiles_like_histogram_quantile(buckets, total, expected) -> None:
    got = _bucket_quantiles(buckets, total)
    assert got == [pytest.approx(e) if isinstance(e, float) else e for e in expected]
