"""Cardinality caps with overflow series, bounded state, and snapshot/restore."""

from __future__ import annotations

import orjson
import pytest

from pipeline.windows import WindowStore
from pipeline.windows.cardinality import GLOBAL_OVERFLOW, OVERFLOW_LABEL

from .helpers import batch, sample


def close_all(store: WindowStore, now: float = 1e4) -> list:
    store.add_batch(batch(now, []), now=now)
    store.watermark = now
    return store.close_due(now=now)


@pytest.mark.parametrize(("per_metric", "sent", "kept"), [(3, 2, 2), (3, 3, 3), (3, 10, 3)])
def test_per_metric_cap_folds_the_rest_into_an_overflow_series(per_metric, sent, kept) -> None:
    store = WindowStore([10.0], grace=0.0, max_series_per_metric=per_metric)
    samples = [sample("req", 1.0, labels={"user": f"u{i}"}) for i in range(sent)]
    samples += [sample("cpu", 5.0)]  # another metric is not affected
    store.add_batch(batch(101.0, samples), now=101.0)
    aggs = close_all(store, 200.0)
    req = [a for a in aggs if a.name == "req" and OVERFLOW_LABEL not in a.labels]
    over = [a for a in aggs if a.labels.get(OVERFLOW_LABEL) == "metric"]
    assert len(req) == kept
    assert [a.name for a in aggs if a.name == "cpu"] == ["cpu"]
    if sent > per_metric:
        (o,) = over
        assert o.count == sent - per_metric and o.series == 'req{toka_overflow="metric"}'
    else:
        assert over == []


def test_total_cap_uses_one_global_overflow_series_and_memory_stays_bounded() -> None:
    store = WindowStore([10.0], grace=0.0, max_series_total=50, max_series_per_metric=1000)
    for i in range(20):  # 20 records of 100 unbounded label values each
        store.add_batch(
            batch(101.0, [sample(f"m{j % 7}", 1.0, labels={"id": f"{i}-{j}"}) for j in range(100)]),
            now=101.0,
        )
    assert store.series_count <= 52  # the cap, plus at most the overflow series
    assert sum(len(h) for h in store._hosts.values()) <= 50  # cut keys are never cached
    aggs = close_all(store, 200.0)
    total = sum(a.count for a in aggs)
    assert total == 2000  # nothing lost: cut samples are counted in overflow series
    glob = [a for a in aggs if a.name == GLOBAL_OVERFLOW]
    assert len(glob) == 1 and glob[0].count > 0
    assert store.stats["cut"] == 2000 - 50


def test_snapshot_restore_continues_exactly() -> None:
    def feed(store: WindowStore, ts_range: range) -> list:
        out = []
        for t in ts_range:
            store.add_batch(
                batch(float(t), [
                    sample("cpu", float(t % 13), labels={"core": "0"}),
                    sample("req", float(t * 3), type="counter"),
                    sample("lat", float(t), type="histogram", buckets=[(1.0, t / 2)], sum=t / 3),
                ]),
                now=float(t),
            )  # fmt: skip
            out.extend(store.close_due(now=float(t)))
        return out

    straight = WindowStore([10.0, 30.0], grace=3.0, hop=None)
    a = feed(straight, range(100, 200))
    resumed = WindowStore([10.0, 30.0], grace=3.0)
    b = feed(resumed, range(100, 147))
    data = orjson.loads(orjson.dumps(resumed.snapshot()))  # must survive JSON
    resumed = WindowStore.restore(data)
    b += feed(resumed, range(147, 200))
    assert [x.id for x in a] == [x.id for x in b]
    assert a == b


def test_restore_refuses_unknown_versions() -> None:
    with pytest.raises(ValueError):
        WindowStore.restore({"v": 99})


def test_store_from_pipeline_config() -> None:
    from schemas.config import TokaConfig

    cfg = TokaConfig(pipeline={"window_seconds": [10, 60], "hop_seconds": 5, "grace_seconds": 2,
                               "max_series_per_metric": 7, "max_series_total": 9})  # fmt: skip
    store = WindowStore.from_config(cfg.pipeline)
    assert store.width == 5.0 and [(s.size, s.hop) for s in store.specs] == [(2, 1), (12, 1)]
    assert (store.grace, store.caps.per_metric, store.caps.total) == (2.0, 7, 9)
    assert WindowStore.restore(store.snapshot()).settings() == store.settings()


def test_snapshot_restore_of_a_series_sent_by_two_hosts_continues_through_expiry() -> None:
    # A sample's own host label makes one series of both hosts' samples; the quiet gap
    # expires it (ttl 30 s), and both hosts must find it gone after the restore too.
    quiet = (150, 200)
    times = [*range(100, 140), *quiet, *range(240, 280)]

    def feed(store: WindowStore, ts: list[int]) -> list:
        out = []
        for t in ts:
            if t not in quiet:
                s = sample("cpu", float(t % 7), labels={"host": "x"})
                store.add_batch(batch(float(t), [s], host="ab"[t % 2]), now=float(t))
            out.extend(store.close_due(now=float(t)))
        return out

    settings = {"grace": 2.0, "idle_close": 5.0, "series_ttl": 30.0}
    straight = WindowStore([10.0], **settings)
    a = feed(straight, times)
    resumed = WindowStore([10.0], **settings)
    b = feed(resumed, times[:25])
    resumed = WindowStore.restore(orjson.loads(orjson.dumps(resumed.snapshot())))
    b += feed(resumed, times[25:])
    assert a == b
    assert straight.stats["expired"] == resumed.stats["expired"] == 1
    assert sum(x.count for x in a if x.window_start >= 240) == 30  # [270, 280) still open
    assert len({x.id for x in a}) == len(a)
