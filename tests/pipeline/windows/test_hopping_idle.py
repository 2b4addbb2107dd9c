"""Hopping windows, several sizes at once, idle close and series expiry."""

from __future__ import annotations

import pytest

from pipeline.windows import WindowStore
from pipeline.windows.spec import WindowSpec, specs_for

from .helpers import batch, gauge_batch, sample

#: A wall clock after every event time used here (the watermark never passes it by much).
WALL = 200.0


@pytest.mark.parametrize(
    ("sizes", "hop", "width", "specs"),
    [
        ([10.0], None, 10.0, [(1, 1)]),
        ([10.0, 60.0], None, 10.0, [(1, 1), (6, 6)]),
        ([60.0], 15.0, 15.0, [(4, 1)]),
        ([10.0, 60.0], 5.0, 5.0, [(2, 1), (12, 1)]),
        ([0.5, 1.5], None, 0.5, [(1, 1), (3, 3)]),
    ],
)
def test_pane_width_and_specs(sizes, hop, width, specs) -> None:
    w, got = specs_for(sizes, hop)
    assert w == width
    assert [(s.size, s.hop) for s in got] == specs


@pytest.mark.parametrize(
    ("size", "hop", "pane", "starts"),
    [
        (1, 1, 7, [7]),
        (4, 1, 7, [4, 5, 6, 7]),
        (6, 2, 7, [2, 4, 6]),
        (6, 6, 7, [6]),
        (3, 1, -1, [-3, -2, -1]),
    ],
)
def test_windows_containing_a_pane(size, hop, pane, starts) -> None:
    spec = WindowSpec(size, hop)
    assert list(spec.starts_containing(pane)) == starts
    assert spec.last_end_containing(pane) == starts[-1] + size


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        WindowStore([0.0])
    with pytest.raises(ValueError):
        WindowStore([])


def test_hopping_windows_each_hold_exactly_their_samples() -> None:
    store = WindowStore([30.0], grace=0.0, hop=10.0)
    out = []
    for t in range(100, 200, 5):  # values equal their time
        store.add_batch(gauge_batch(float(t), float(t)), now=WALL)
        out.extend(store.close_due(now=WALL))
    by_start = {a.window_start: a for a in out}
    # Windows [s, s+30) for s = 80, 90, ... each with the samples in range.
    for s, agg in by_start.items():
        inside = [t for t in range(100, 200, 5) if s <= t < s + 30]
        assert agg.window_end == s + 30
        assert agg.count == len(inside)
        assert (agg.min, agg.max, agg.sum) == (min(inside), max(inside), sum(inside))
    assert sorted(by_start) == [80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0]


def test_two_sizes_close_independently_and_agree() -> None:
    store = WindowStore([10.0, 60.0], grace=0.0)
    out = []
    for t in range(0, 130, 2):
        store.add_batch(gauge_batch(1200.0 + t, float(t % 7)), now=1200.0 + t)
        out.extend(store.close_due(now=1200.0 + t))
    tens = [a for a in out if a.window_end - a.window_start == 10.0]
    sixties = [a for a in out if a.window_end - a.window_start == 60.0]
    assert [a.window_start for a in sixties] == [1200.0, 1260.0]
    assert len(tens) == 12
    # A 60 s window is the exact merge of its six 10 s windows.
    first = [a for a in tens if a.window_start < 1260.0]
    assert sixties[0].count == sum(a.count for a in first)
    assert sixties[0].sum == pytest.approx(sum(a.sum for a in first))
    assert sixties[0].max == max(a.max for a in first)
    assert sixties[0].last == first[-1].last


def test_idle_series_window_closes_on_wall_clock() -> None:
    store = WindowStore([10.0], grace=5.0, idle_close=15.0)
    store.add_batch(gauge_batch(103.0, 1.0, host="quiet"), now=1000.0)
    store.add_batch(gauge_batch(104.0, 2.0, host="busy"), now=1000.0)
    assert store.close_due(now=1010.0) == []  # watermark 104: nothing due yet
    store.add_batch(gauge_batch(106.0, 3.0, host="busy"), now=1014.0)
    aggs = store.close_due(now=1015.0)
    assert [(a.host, a.count, a.window_start) for a in aggs] == [("quiet", 1, 100.0)]
    # A sample for the idle-closed window is late for that series: no second window.
    late = store.add_batch(gauge_batch(108.0, 9.0, host="quiet"), now=1016.0)
    assert len(late) == 1
    # ... but its next window is open as usual.
    assert store.add_batch(gauge_batch(111.0, 9.0, host="quiet"), now=1016.0) == []


def test_idle_series_expire_from_state_and_free_their_cap() -> None:
    store = WindowStore([10.0], grace=0.0, idle_close=5.0, series_ttl=60.0, max_series_total=1)
    store.add_batch(gauge_batch(101.0, 1.0, host="a"), now=0.0)
    assert store.series_count == 1
    store.close_due(now=10.0)  # idle close emits the window
    store.close_due(now=100.0)  # idle past the ttl: forgotten
    assert store.series_count == 0
    store.add_batch(gauge_batch(201.0, 1.0, host="b"), now=100.0)
    assert store.series_count == 1 and store.stats["cut"] == 0


def _relayed(host: str, t: float, v: float, own_ts: bool):
    # The sample's own host label wins (series_id): the same series whichever host sends it.
    s = sample("cpu", v, ts=t if own_ts else None, labels={"host": "x"})
    return batch(t, [s], host=host)


def _relayed_then_expired(own_ts: bool) -> WindowStore:
    store = WindowStore([10.0], grace=0.0, idle_close=5.0, series_ttl=60.0)
    store.add_batch(_relayed("a", 101.0, 1.0, own_ts), now=101.0)
    store.add_batch(_relayed("b", 102.0, 2.0, own_ts), now=102.0)
    assert [(a.host, a.count) for a in store.close_due(now=110.0)] == [("a", 2)]
    store.close_due(now=200.0)  # idle past the ttl: forgotten
    assert store.series_count == 0
    return store


# "row": batch-stamped samples, so a host's second record takes the layout fast path.
@pytest.mark.parametrize("own_ts", [False, True], ids=["row", "per-sample"])
def test_series_sent_by_two_hosts_is_one_series_again_after_expiry(own_ts: bool) -> None:
    store = _relayed_then_expired(own_ts)
    for t, host in [(201.0, "b"), (202.0, "a"), (203.0, "b"), (204.0, "a")]:
        store.add_batch(_relayed(host, t, t - 200.0, own_ts), now=t)
    store.add_batch(gauge_batch(215.0, 0.0, host="c", name="mem"), now=215.0)
    out = [a for a in store.close_due(now=215.0) if a.name == "cpu"]
    # Not two aggregates with one window id, each with part of the samples.
    assert [(a.host, a.window_start, a.count, a.sum) for a in out] == [("b", 200.0, 4, 10.0)]
    assert store.series_count == 2  # cpu and mem
    assert (store.stats["row_records"] > 0) is not own_ts


@pytest.mark.parametrize("own_ts", [False, True], ids=["row", "per-sample"])
def test_series_resumed_by_another_host_after_expiry_closes_when_idle(own_ts: bool) -> None:
    store = _relayed_then_expired(own_ts)
    store.add_batch(_relayed("b", 301.0, 5.0, own_ts), now=301.0)
    out = store.close_due(now=310.0)  # the only series, quiet: out on the wall clock
    assert [(a.host, a.window_start, a.count, a.sum) for a in out] == [("b", 300.0, 1, 5.0)]
    assert store.series_count == 1
    snap = WindowStore.restore(store.snapshot()).snapshot()
    assert snap == store.snapshot()


@pytest.mark.parametrize("own_ts", [False, True], ids=["row", "per-sample"])
def test_ttl_shorter_than_idle_close_never_expires_a_series_with_samples(own_ts: bool) -> None:
    # The record at 111 goes to a layout block (row): not yet in a pane at the scan at 117.
    store = WindowStore([10.0], grace=0.0, idle_close=15.0, series_ttl=5.0)
    out = []
    for t in (101.0, 111.0, 117.0, 118.0):
        if t != 117.0:
            store.add_batch(batch(t, [sample("cpu", t, ts=t if own_ts else None)]), now=t)
        out += store.close_due(now=t)
    assert store.stats["expired"] == 0
    store.add_batch(gauge_batch(125.0, 0.0, host="z", name="mem"), now=125.0)
    out += [a for a in store.close_due(now=125.0) if a.name == "cpu"]
    assert [(a.window_start, a.count) for a in out] == [(100.0, 1), (110.0, 2)]
