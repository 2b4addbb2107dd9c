"""The capacity stage's logic on the analytics loop, in process (no broker): used and
total series of one mount meet in one history, one point per closed bucket, and a
replayed batch adds nothing."""

from __future__ import annotations

from pipeline.capacity.history import Meta, chunk_key, meta_key, resource_key
from pipeline.capacity.logic import CapacityLogic
from pipeline.runtime.analytics_runtime import AnalyticsLoop
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.tables import WriteBehind
from pipeline.windows import series_id
from schemas import AggregateBatch, WindowAggregate, encode, new_id
from schemas.config.analytics import CapacityConfig
from tests.pipeline.runtime.ingest_support import BATCHES, Msg, Topic

USED, TOTAL = "system_disk_used_bytes", "system_disk_total_bytes"
LABELS = {"mount": "/"}


def agg(name: str, end: float, value: float) -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=series_id("db-1", name, LABELS), name=name, host="db-1",
        window_start=end - 60, window_end=end, count=1, sum=value, min=value, max=value,
        mean=value, last=value, labels=LABELS,
    )  # fmt: skip


async def test_used_and_total_meet_and_a_replay_adds_no_point() -> None:
    cc = CapacityConfig(series={USED: TOTAL}, bucket_seconds=300)
    state = WriteBehind({}, {}, "capacity", 60.0)
    loop = AnalyticsLoop(state, CapacityLogic(cc, state), ProcessingGuard("capacity"),
                         Progress(), deadletter=Topic(), batches=BATCHES)  # fmt: skip
    for i in range(4):  # one window per bucket: each closes the bucket before it
        end = 86_400.0 * 100 + 300 * (i + 1)
        raw = encode(AggregateBatch(id=new_id(), aggregates=[
            agg(USED, end, 100.0 + i), agg(TOTAL, end, 1000.0),
        ]))  # fmt: skip
        await loop.handle(raw, Msg(i))
        await loop.handle(raw, Msg(i))  # re-delivered: skipped
    res = resource_key("db-1", LABELS)
    meta = state.get(0, meta_key(USED, res), Meta.restore)
    assert (meta.capacity, meta.points) == (1000.0, 3)
    points = state.get(0, chunk_key(USED, res, 100))
    assert [p[1] for p in points] == [100.0, 101.0, 102.0]
    assert loop.guard.counts["replayed"] == 4
