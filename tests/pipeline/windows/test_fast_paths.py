"""Shortcuts of the hot path that must not change a single aggregate."""

from __future__ import annotations

from pipeline.windows import WindowStore
from pipeline.windows.aggregate import window_id
from schemas.records import MetricBatch, Sample, new_id


def _record(ts: float, source: str, values: list[float], name: str = "g") -> MetricBatch:
    samples = [Sample(name=name, value=v, labels={"i": str(i)}) for i, v in enumerate(values)]
    return MetricBatch(id=new_id(), host="h", source=source, ts=ts, samples=samples)


def _run(records: list[tuple[float, MetricBatch]], fast: bool) -> list:
    store = WindowStore([10.0], grace=1.0, idle_close=15.0)
    out: list = []
    for i, (now, given) in enumerate(records):
        rec = given
        if not fast:  # a source per record: no layout ever matches, sample by sample
            rec = MetricBatch(id=rec.id, host=rec.host, source=f"s{i}", ts=rec.ts,
                              samples=rec.samples)  # fmt: skip
        out.append(len(store.add_batch(rec, now)))
        out.extend(store.close_due(now))
    out.extend(store.close_due(records[-1][0] + 1000.0))
    return out


def test_idle_close_after_the_wall_clock_steps_back() -> None:
    # Rows of a layout wait in a block; the store skips the idle check of blocks whose
    # layout was fed recently, which only holds while the clock never goes back.
    records = [
        (1000.0, _record(1000.0, "a", [1.0, 2.0])),
        (1001.0, _record(1001.0, "a", [3.0, 4.0])),  # a block row
        (990.0, _record(1002.0, "b", [5.0])),  # the clock stepped back; series i=0 again
        (1006.0, _record(1006.0, "c", [6.0], name="z")),  # idle scan: i=0 silent since 990
    ]
    fast, slow = _run(records, fast=True), _run(records, fast=False)
    assert fast == slow
    assert [(a.name, a.labels["i"], a.count) for a in fast if not isinstance(a, int)] == [
        ("g", "0", 3), ("g", "1", 2), ("z", "0", 1)
    ]  # fmt: skip


def test_window_ids_are_the_documented_hash() -> None:
    store = WindowStore([10.0, 60.0])
    store.add_batch(_record(1000.0, "a", [1.0, 2.0]), 1000.0)
    store.add_batch(_record(1000.5, "a", [1.0, 2.0]), 1000.5)
    aggs = store.close_due(5000.0)
    assert len(aggs) == 4
    for a in aggs:
        assert a.id == window_id(a.series, a.window_start, a.window_end)


def test_idle_scan_after_the_wall_clock_steps_back() -> None:
    # The idle scan is skipped while every series was seen after the oldest last_seen of
    # the previous scan (idle.py): a series fed at an earlier wall-clock time breaks that.
    store = WindowStore([10.0], grace=1.0, idle_close=15.0)
    store.add_batch(_record(1000.0, "a", [1.0, 2.0]), 1000.0)
    assert store.close_due(1000.0) == []  # a full scan: every series seen at 1000
    store.add_batch(_record(1001.0, "b", [5.0]), 980.0)  # i=0 again, the clock stepped back
    assert store.close_due(980.0) == []
    out = store.close_due(1001.0)  # i=0 has been silent since 980: idle
    assert [(a.labels["i"], a.count, a.sum) for a in out] == [("0", 2, 6.0)]
