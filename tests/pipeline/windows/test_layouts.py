"""The per-record fast path (layouts.py) gives exactly what the per-sample path gives."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from pipeline.windows import WindowStore
from schemas.records import MetricBatch, Sample, new_id


def _histograms(rng: np.random.Generator, counts: np.ndarray, k: int) -> list[Sample]:
    """Two histograms in the middle of a scrape; one's buckets change at k = 40."""
    out = []
    for i in range(2):
        les = [0.1, 0.5, 1.0] + ([2.5] if i == 1 and k >= 40 else [])
        cum = np.cumsum(counts[i, : len(les)]).tolist()
        buckets = list(zip(les, cum, strict=True))
        total = cum[-1] + float(counts[i, 4])
        out.append(Sample(name="lat", value=total, type="histogram", labels={"i": str(i)},
                          buckets=buckets, sum=float(rng.normal(9 * total, 1))))  # fmt: skip
    return out


def scrapes(
    seed: int, hosts: int = 3, steps: int = 60, *, hist: bool = False, dt: float = 1.5
) -> list[tuple[float, MetricBatch]]:
    """(arrival time, record) with jitter, a NaN, a reordered pair, a late record, a gap;
    with ``hist``, histograms too (a reset, a bucket added)."""
    rng = np.random.default_rng(seed)
    counters = np.zeros(4)
    hcounts = np.zeros((2, 5))
    out = []
    for k in range(steps):
        for h in range(hosts):
            if h == 2 and 20 <= k < 45:
                continue  # host 2 goes quiet: idle close, then comes back
            counters += rng.integers(0, 50, 4)
            if k == 30:
                counters[1] = 3.0  # a counter reset
            samples = [Sample(name="g", value=float(v), labels={"i": str(i)})
                       for i, v in enumerate(rng.normal(50, 20, 6))]  # fmt: skip
            samples += [Sample(name="c", value=float(v), type="counter", labels={"i": str(i)})
                        for i, v in enumerate(counters)]  # fmt: skip
            if k == 17 and h == 0:
                samples[2] = Sample(name="g", value=float("nan"), labels={"i": "2"})
            if hist:
                hcounts += rng.integers(0, 9, hcounts.shape)
                if k == 30:
                    hcounts[0] = 1.0  # a histogram reset
                samples[6:6] = _histograms(rng, hcounts, k)
            ts = 1000.0 + k * dt + h * 0.01
            out.append((ts + 0.2, MetricBatch(id=new_id(), host=f"h{h}", source="s", ts=ts,
                                                samples=samples)))  # fmt: skip
    out[40], out[41] = out[41], out[40]  # arrival order differs from event time
    late = out[10][1]
    out.append((out[-1][0], late))  # long after its window closed
    return out


def run(
    records: list[tuple[float, MetricBatch]], fast: bool, snapshot_at: int = -1,
    hop: float | None = None,
) -> list:  # fmt: skip
    store = WindowStore([3.0, 9.0], grace=1.0, idle_close=5.0, hop=hop)
    got: list = []
    rows = 0
    for i, (now, rec) in enumerate(records):
        b = rec
        if not fast:  # a new source per record: no layout ever matches
            b = MetricBatch(id=b.id, host=b.host, source=f"s{i}", ts=b.ts, samples=b.samples)
        got.append(("late", len(store.add_batch(b, now))))
        got.extend(store.close_due(now))
        if i == snapshot_at:
            rows += store.stats["row_records"]
            store = WindowStore.restore(orjson.loads(orjson.dumps(store.snapshot())))
            store.stats["row_records"] = 0
    got.extend(store.close_due(now + 100.0))
    rows += store.stats["row_records"]
    assert (rows > len(records) * 0.8) if fast else rows == 0  # which path really ran
    return got


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("snapshot_at", [-1, 77])
@pytest.mark.parametrize("hop", [None, 1.5])
@pytest.mark.parametrize("hist", [False, True], ids=["", "hist"])
def test_fast_path_equals_per_sample_path(
    seed: int, snapshot_at: int, hop: float | None, hist: bool
) -> None:
    records = scrapes(seed, hist=hist)
    slow = run(records, fast=False, hop=hop)
    fast = run(records, fast=True, snapshot_at=snapshot_at, hop=hop)
    assert len(fast) == len(slow) and fast == slow
    aggs = [a for a in fast if not isinstance(a, tuple)]
    assert {a.type for a in aggs} == {"gauge", "counter"} | ({"histogram"} if hist else set())
    assert any(a.host == "h2" for a in aggs) and ("late", 10 + 2 * hist) in fast


@pytest.mark.parametrize("hist", [False, True], ids=["", "hist"])
def test_fast_path_equals_per_sample_path_with_many_rows_per_pane(hist: bool) -> None:
    # 0.02 s scrapes: 75 rows per 1.5 s pane, more points than a pane keeps; the first
    # record of each layout is folded per sample into the pane its block then joins.
    records = scrapes(3, hosts=2, steps=400, hist=hist, dt=0.02)
    slow = run(records, fast=False)
    fast = run(records, fast=True)
    assert len(fast) == len(slow) and fast == slow
    aggs = [a for a in fast if not isinstance(a, tuple)]
    assert any(a.count > 64 and (a.type == "histogram") is hist for a in aggs)


def test_layout_is_per_host_and_source_and_changes_fall_back() -> None:
    store = WindowStore([10.0], grace=0.0)
    a = [Sample(name="x", value=1.0), Sample(name="y", value=2.0)]
    b = [Sample(name="y", value=3.0), Sample(name="x", value=4.0)]  # another order
    for t, samples in [(101.0, a), (102.0, a), (103.0, b), (104.0, a)]:
        store.add_batch(MetricBatch(id=new_id(), host="h", source="s", ts=t, samples=samples), t)
    store.add_batch(MetricBatch(id=new_id(), host="h", source="s", ts=111.0, samples=a), 111.0)
    aggs = {a.name: a for a in store.close_due(111.0)}
    assert (aggs["x"].count, aggs["x"].sum, aggs["x"].last) == (4, 7.0, 1.0)
    assert (aggs["y"].count, aggs["y"].sum, aggs["y"].last) == (4, 9.0, 2.0)


@pytest.mark.parametrize("fast", [True, False])
def test_a_record_of_another_layout_after_pending_rows_comes_after_them(fast: bool) -> None:
    # Records 2 and 3 share an event time: the later arrival's values are the last ones,
    # as per sample, though record 2 waits in a block and record 3 is folded per sample.
    def a(v: float) -> list[Sample]:
        return [Sample(name="x", value=v), Sample(name="c", value=v, type="counter")]

    def b(v: float) -> list[Sample]:
        return a(v)[::-1]

    store = WindowStore([10.0], grace=0.0)
    for i, (t, samples) in enumerate([(101.0, a(1.0)), (102.0, a(5.0)), (102.0, b(3.0))]):
        src = "s" if fast else f"s{i}"
        store.add_batch(MetricBatch(id=new_id(), host="h", source=src, ts=t, samples=samples), t)
    assert store.stats["row_records"] == int(fast)
    z = [Sample(name="z", value=0.0)]
    store.add_batch(MetricBatch(id=new_id(), host="z", source="s", ts=111.0, samples=z), 111.0)
    aggs = {a.name: a for a in store.close_due(111.0)}
    assert (aggs["x"].last, aggs["c"].last) == (3.0, 3.0)
    assert aggs["c"].rate == pytest.approx((5.0 - 1.0 + 3.0) / 1.0)  # 5 -> 3 at one ts: a reset
