"""The analytics loop in process (no broker): WriteBehind over plain dicts, a dead-letter
topic that confirms delivery (or fails), plain messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pipeline.runtime.analytics_runtime import AnalyticsLoop, ConfirmedTopic, Finding, Refused
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.runtime.state import StateVersionError
from pipeline.tables import WriteBehind
from schemas import AggregateBatch, WindowAggregate, decode, encode, new_id
from tests.pipeline.runtime.ingest_support import BATCHES, Msg, Topic


class Counts:
    """Counts values per series; fails on series named 'bad'."""

    IDLE_PREFIXES = ("c|",)

    def __init__(self, state: WriteBehind) -> None:
        self.state = state

    def on_aggregate(self, agg: WindowAggregate, partition: int) -> list[Finding]:
        if agg.name == "bad":
            raise ValueError("cannot score this one")
        counts = self.state.use(partition, f"c|{agg.series}", None, dict)
        counts["n"] = counts.get("n", 0) + 1
        return []


def agg(name: str, host: str = "h") -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=f'{name}{{host="{host}"}}', name=name, host=host, window_start=0.0,
        window_end=10.0, count=1, sum=1.0, min=1.0, max=1.0, mean=1.0, last=1.0,
    )  # fmt: skip


def batch(*aggs: WindowAggregate) -> bytes:
    return encode(AggregateBatch(id=new_id(), aggregates=list(aggs)))


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(failures: int = 0) -> tuple[AnalyticsLoop, dict, Topic, ProcessingGuard, Clock]:
    table: dict[str, Any] = {}
    state = WriteBehind(table, {}, "test", 60.0)
    guard, topic, clock = ProcessingGuard("test"), Topic(failures), Clock()
    loop = AnalyticsLoop(
        state, Counts(state), guard, Progress(), deadletter=ConfirmedTopic(topic, guard, 0.01),
        batches=BATCHES, clock=clock,
    )  # fmt: skip
    return loop, table, topic, guard, clock


async def test_a_failing_aggregate_is_dead_lettered_and_the_rest_apply() -> None:
    loop, _, topic, guard, _ = make()
    await loop.handle(batch(agg("cpu"), agg("bad"), agg("mem")), Msg(0))
    ((letter),) = topic.sent
    assert letter.reason == "error" and "cannot score" in letter.error and letter.offset == 0
    assert decode(base64.b64decode(letter.original_b64), WindowAggregate).name == "bad"
    assert guard.counts["errors"] == 1
    assert loop.state.get(0, 'c|cpu{host="h"}') == {"n": 1}
    assert loop.state.get(0, 'c|mem{host="h"}') == {"n": 1}


async def test_a_replayed_batch_is_skipped_once_its_state_is_written() -> None:
    loop, _, _, guard, _ = make()
    await loop.handle(batch(agg("cpu")), Msg(0))
    loop.state.flush()
    loop.state.forget()  # a restart: the table is all that is left
    await loop.handle(batch(agg("cpu")), Msg(0))
    assert guard.counts["replayed"] == 1
    assert loop.state.get(0, 'c|cpu{host="h"}') == {"n": 1}


async def test_a_dead_letter_that_cannot_be_sent_holds_its_record_until_it_is() -> None:
    loop, _, topic, guard, _ = make(failures=3)
    await loop.handle(b"not json", Msg(0))  # returns only once the dead letter is delivered
    assert [x.reason for x in topic.sent] == ["not_json"]
    assert guard.counts["deadletter_failed"] == 3


async def test_state_unused_for_the_idle_time_is_evicted_and_counted() -> None:
    """Finding 7: regression and anomaly state per series was never evicted."""
    loop, table, _, guard, clock = make()
    await loop.handle(batch(agg("cpu", "gone"), agg("cpu", "alive")), Msg(0))
    loop.state.flush()
    clock.now += 3000
    await loop.handle(batch(agg("cpu", "alive")), Msg(1))
    clock.now += 1000
    assert loop.evict_idle([0], idle=3600) == 1
    loop.state.flush()
    assert set(table) == {'0|c|cpu{host="alive"}'} and guard.counts["evicted"] == 1


async def test_a_record_the_stage_refuses_is_dead_lettered_with_its_reason() -> None:
    loop, _, topic, guard, _ = make()

    async def refuse(record: Any, raw: bytes, msg: Any) -> list[Finding]:
        raise Refused("unknown_schema", f"{type(record).__name__} is not an input here")

    loop._on_record = refuse
    await loop.handle(batch(agg("cpu")), Msg(0, topic="t.benchmarks"))
    ((letter),) = topic.sent
    assert (letter.reason, letter.source_topic) == ("unknown_schema", "t.benchmarks")
    assert "AggregateBatch is not an input here" in letter.error
    assert guard.counts["unknown_schema"] == 1 and guard.counts["errors"] == 0


async def test_a_batch_dropped_around_a_rebalance_is_applied_when_it_comes_back() -> None:
    """Faust 0.15.3 can drop a fetched record while a rebalance ends and deliver it again
    after its seek: batch 1 comes back after batch 2, below the last batch applied."""
    loop, _, _, guard, _ = make()
    series = 'c|cpu{host="h"}'
    await loop.handle(batch(agg("cpu")), Msg(0))
    await loop.handle(batch(agg("cpu")), Msg(2))  # batch 1 dropped
    loop.state.flush()
    loop.state.forget()  # the rebalance: restored from the table
    for offset in (0, 1, 2):  # the seek to the committed offset re-delivers them
        await loop.handle(batch(agg("cpu")), Msg(offset))
    assert loop.state.get(0, series) == {"n": 3}  # 0, 2 and then 1, each once
    assert guard.counts["replayed"] == 2
    loop.state.flush()
    loop.state.forget()
    await loop.handle(batch(agg("cpu")), Msg(1))  # all three are in the table now
    assert loop.state.get(0, series) == {"n": 3} and guard.counts["replayed"] == 3


def test_a_position_in_the_old_form_still_restores() -> None:
    """Positions written before the ranges: ``[offset, ts]``, everything up to offset."""
    state = WriteBehind({}, {"0|test": [7, 5.0]}, "test", 60.0)
    assert state.replayed(0, 7, 5.0) and state.replayed(0, 3, 4.0)
    assert not state.replayed(0, 8, 5.0)
    assert not state.replayed(0, 3, 6.0)  # a recreated topic: offsets restart, newer time


async def test_a_recreated_topic_starts_the_positions_over() -> None:
    """Its offsets restart at 0 with newer timestamps: the old ranges must not skip them."""
    loop, _, _, guard, _ = make()
    for offset in range(3):
        await loop.handle(batch(agg("cpu")), Msg(offset, timestamp=1.0))
    for offset in range(3):  # the new topic's batches, all at one newer time
        await loop.handle(batch(agg("cpu")), Msg(offset, timestamp=9.0))
    assert loop.state.get(0, 'c|cpu{host="h"}') == {"n": 6} and guard.counts["replayed"] == 0


def test_a_position_of_a_newer_release_is_refused() -> None:
    state = WriteBehind({}, {"0|test": {"~v": 3, "~s": {}}}, "test", 60.0)
    with pytest.raises(StateVersionError, match="upgrade the worker"):
        state.replayed(0, 1, 1.0)
