"""Tumbling windows: arithmetic, statistics, watermark close, late samples."""

from __future__ import annotations

import pytest

from pipeline.windows import WindowStore, series_id

from .helpers import batch, gauge_batch, sample

#: A wall clock after every event time used here (the watermark never passes it by much).
WALL = 200.0


def feed(store: WindowStore, points: list[tuple[float, float]], host: str = "h1") -> list:
    out = []
    for ts, v in points:
        assert store.add_batch(gauge_batch(ts, v, host=host), now=ts) == []
        out.extend(store.close_due(now=ts))
    return out


@pytest.mark.parametrize(
    ("host", "name", "labels", "expected"),
    [
        ("h1", "cpu", {}, 'cpu{host="h1"}'),
        ("h1", "cpu", {"core": "1", "b": "x"}, 'cpu{host="h1",b="x",core="1"}'),
        ("", "up", {"a": 'q"uo\\te'}, 'up{a="q\\"uo\\\\te"}'),
        ("h1", "cpu", {"host": "h2"}, 'cpu{host="h2"}'),
    ],
)
def test_series_id(host, name, labels, expected) -> None:
    assert series_id(host, name, labels) == expected


@pytest.mark.parametrize("size", [10.0, 60.0, 2.5])
def test_tumbling_window_statistics(size: float) -> None:
    store = WindowStore([size], grace=0.0)
    t0 = 1000 * size  # aligned
    vals = [3.0, 1.0, 4.0, 1.0, 5.0]
    step = size / len(vals)
    aggs = feed(store, [(t0 + i * step, v) for i, v in enumerate(vals)])
    assert aggs == []  # nothing closed before the watermark passes the end
    store.add_batch(gauge_batch(t0 + size, 9.0), now=t0 + size)
    (agg,) = store.close_due(now=t0 + size)
    assert (agg.window_start, agg.window_end) == (t0, t0 + size)
    assert (agg.count, agg.sum, agg.min, agg.max, agg.last) == (5, 14.0, 1.0, 5.0, 5.0)
    assert agg.mean == pytest.approx(2.8)
    assert agg.series == 'cpu{host="h1"}' and agg.host == "h1" and agg.labels == {}
    assert agg.p50 == pytest.approx(3.0, rel=0.01)
    # Ranks q*(n-1) rounded down, as numpy's method="lower": p99 of 5 values is the 4th.
    assert agg.p99 == pytest.approx(4.0, rel=0.01)


def test_grace_delays_close_and_late_samples_come_back() -> None:
    store = WindowStore([10.0], grace=5.0)
    feed(store, [(100.0, 1.0), (104.0, 2.0), (112.0, 3.0)])
    assert store.close_due(now=112.0) == []  # 110 + 5 > 112: still within grace
    # Within grace: joins its window.
    assert store.add_batch(gauge_batch(108.0, 7.0), now=113) == []
    store.add_batch(gauge_batch(115.0, 4.0), now=115)
    (agg,) = store.close_due(now=115)
    assert (agg.window_start, agg.count, agg.max) == (100.0, 3, 7.0)
    late = store.add_batch(gauge_batch(109.0, 99.0), now=116)
    assert [s.value for s in late] == [99.0]
    assert store.stats["late"] == 1


def test_last_is_by_event_time_not_arrival() -> None:
    store = WindowStore([10.0], grace=0.0)
    store.add_batch(gauge_batch(105.0, 5.0), now=WALL)
    store.add_batch(gauge_batch(101.0, 1.0), now=WALL)
    store.add_batch(gauge_batch(110.0, 0.0), now=WALL)
    (agg,) = store.close_due(now=WALL)
    assert agg.last == 5.0


def test_lateness_is_judged_before_the_record_moves_the_watermark() -> None:
    store = WindowStore([10.0], grace=0.0)
    # One record spanning 30 s (a spool replay): nothing in it is late.
    b = batch(130.0, [sample("cpu", 1.0, ts=100.0), sample("cpu", 2.0, ts=129.0)])
    assert store.add_batch(b, now=WALL) == []
    aggs = store.close_due(now=WALL)
    assert [(a.window_start, a.count) for a in aggs] == [(100.0, 1)]


def test_sample_without_ts_uses_batch_ts_and_series_split_by_host_and_labels() -> None:
    store = WindowStore([10.0], grace=0.0)
    store.add_batch(batch(101.0, [sample("cpu", 1.0, labels={"core": "0"}),
                                  sample("cpu", 2.0, labels={"core": "1"})]), now=WALL)  # fmt: skip
    store.add_batch(gauge_batch(102.0, 3.0, host="h2", core="0"), now=WALL)
    store.add_batch(gauge_batch(111.0, 0.0, host="h2", core="0"), now=WALL)
    aggs = {a.series: a for a in store.close_due(now=WALL)}
    assert set(aggs) == {
        'cpu{host="h1",core="0"}', 'cpu{host="h1",core="1"}', 'cpu{host="h2",core="0"}'
    }  # fmt: skip
    assert aggs['cpu{host="h1",core="0"}'].labels == {"core": "0"}


def test_label_order_does_not_split_a_series() -> None:
    store = WindowStore([10.0], grace=0.0)
    store.add_batch(batch(101.0, [sample("m", 1.0, labels={"a": "1", "b": "2"})]), now=WALL)
    store.add_batch(batch(102.0, [sample("m", 2.0, labels={"b": "2", "a": "1"})]), now=WALL)
    store.add_batch(batch(111.0, [sample("m", 0.0, labels={"a": "1", "b": "2"})]), now=WALL)
    (agg,) = store.close_due(now=WALL)
    assert agg.count == 2 and store.series_count == 1


def test_nan_is_skipped_and_counted() -> None:
    store = WindowStore([10.0], grace=0.0)
    store.add_batch(gauge_batch(101.0, float("nan")), now=WALL)
    store.add_batch(gauge_batch(102.0, 2.0), now=WALL)
    store.add_batch(gauge_batch(111.0, 0.0), now=WALL)
    (agg,) = store.close_due(now=WALL)
    assert agg.count == 1 and store.stats["nan"] == 1


def test_far_future_samples_are_dropped_and_do_not_move_the_watermark() -> None:
    store = WindowStore([10.0], grace=0.0, max_future=60.0)
    store.add_batch(gauge_batch(1e12, 1.0), now=100.0)
    assert store.watermark == float("-inf") and store.stats["future"] == 1


def test_window_ids_are_deterministic() -> None:
    def run() -> list[str]:
        store = WindowStore([10.0], grace=0.0)
        feed(store, [(101.0, 1.0)])
        store.add_batch(gauge_batch(111.0, 1.0), now=WALL)
        return [a.id for a in store.close_due(now=WALL)]

    assert run() == run()


def test_a_fast_host_clock_cannot_make_the_others_late() -> None:
    store = WindowStore([10.0], grace=2.0, max_skew=5.0)
    now = 1000.0
    store.add_batch(gauge_batch(now + 120.0, 1.0, host="fast"), now=now)  # clock 2 min ahead
    assert store.watermark == now + 5.0  # capped at wall clock + max_skew
    # Without the cap, the watermark (1120) would make this sample 2 min late.
    assert store.add_batch(gauge_batch(now + 1.0, 2.0, host="ok"), now=now) == []
    store.add_batch(gauge_batch(now + 13.0, 3.0, host="ok"), now=now + 13.0)
    aggs = store.close_due(now=now + 13.0)
    assert [(a.host, a.window_start, a.count) for a in aggs] == [("ok", 1000.0, 1)]
    # The fast host's window closes once the wall clock (plus skew) passes it.
    store.add_batch(gauge_batch(now + 140.0, 4.0, host="fast"), now=now + 130.0)
    aggs = store.close_due(now=now + 130.0)
    assert ("fast", 1120.0) in [(a.host, a.window_start) for a in aggs]
