"""The analytics loop, written once: what the regressions, anomalies and capacity stages
share.

Each reads the aggregate-batches topic (plus any topics of its own) into a written-behind
state table (pipeline.tables.WriteBehind). The loop owns, for every stage:

- acks: every record is held until the table holds its effect (``WriteBehind.settle``);
- replay skip: a batch at or below the position the table holds is not applied twice;
- decode or dead-letter: a bad batch goes to the dead-letter topic whole, a bad aggregate
  in a good batch alone;
- error policy: an aggregate the stage fails on is dead-lettered with its reason, counted
  as ``errors`` and logged (rate-limited); the batch's other aggregates still count;
- a revoked partition's batch in flight is not applied;
- findings: made durable before they are sent (a replay must not find them again).

A stage gives an ``AnalyticsLogic``: ``on_aggregate`` per aggregate and, for topics of
its own, ``on_record``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, Protocol, cast

import faust

from pipeline.deadletter import dead_letter, decode_batch_or_dead_letter, decode_or_dead_letter
from pipeline.runtime.context import StageContext
from pipeline.runtime.faust_runtime import send_confirmed
from pipeline.runtime.guard import ProcessingGuard
from pipeline.tables import WriteBehind, partitioned_table, positions_table
from schemas import WindowAggregate, encode

__all__ = ["AnalyticsLogic", "AnalyticsRun", "Finding", "run_analytics"]


class Finding(NamedTuple):
    """One record a stage found, for ``topic``; ``event`` names its count."""

    topic: Any
    key: bytes
    value: bytes
    event: str


class AnalyticsLogic(Protocol):
    def on_aggregate(self, agg: WindowAggregate, partition: int) -> Iterable[Finding]: ...


#: For records of a stage's own topics: (decoded record, raw bytes, Faust message).
RecordHandler = Callable[[Any, bytes, Any], Awaitable[Iterable[Finding]]]


class AnalyticsRun(NamedTuple):
    state: WriteBehind
    guard: ProcessingGuard
    batches: str  # the aggregate-batches topic's name


def run_analytics(
    ctx: StageContext,
    stage: str,
    table: str,
    logic: AnalyticsLogic,
    *more_topics: str,
    on_record: RecordHandler | None = None,
) -> AnalyticsRun:
    app, cfg = ctx.app, ctx.cfg
    parts = cfg.pipeline.partitions
    state = WriteBehind(
        partitioned_table(app, table, parts), positions_table(app, parts), stage,
        cfg.analytics.state_flush_seconds,
    )  # fmt: skip
    batches = cfg.kafka.topic("aggregate-batches")
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    source = app.topic(
        batches, *more_topics, key_type=bytes, value_type=bytes, internal=True, partitions=parts
    )
    state.attach(app, batches)
    guard = ctx.guard(stage)
    deadletter = ctx.topics.deadletter
    progress = ctx.progress

    async def apply(aggs: list[WindowAggregate], msg: Any) -> list[Finding]:
        found: list[Finding] = []
        for agg in aggs:
            try:
                found.extend(logic.on_aggregate(agg, msg.partition))
            except Exception as exc:  # one failing series must not stop the rest
                guard.count("errors")
                guard.exception("aggregate %s failed", agg.series)
                letter = dead_letter(
                    "error", repr(exc), msg.topic, encode(agg),
                    key=msg.key, partition=msg.partition, offset=msg.offset,
                )  # fmt: skip
                await send_confirmed(deadletter, msg.topic.encode(), encode(letter))
        return found

    async def handle(event: Any) -> list[Finding]:
        msg = event.message
        raw: bytes = event.value
        p = msg.partition
        if msg.topic == batches:
            if state.replayed(p, msg.offset, msg.timestamp):
                guard.count("replayed")
                return []
            aggs = await decode_batch_or_dead_letter(raw, msg, deadletter, guard)
            if aggs is None or not state.owns(p):
                return []
            found = await apply(aggs, msg)
            state.applied(p, msg.offset, msg.timestamp)
            if found:  # durable first: a replay must not find it again
                state.flush()
            return found
        record = await decode_or_dead_letter(raw, msg, deadletter, guard)
        if record is None or not state.owns(p):
            return []
        if on_record is None:  # pragma: no cover - only regressions subscribe to more
            return []
        found = list(await on_record(record, raw, msg))
        state.flush()  # rare records: written through
        return found

    @app.agent(source, name=f"toka-{stage}")
    async def loop(stream: faust.StreamT) -> None:
        manual = cast("faust.Stream[Any]", stream).noack()  # acked by state.settle()
        async for event in manual.events():
            state.hold(manual, event)
            msg = event.message
            try:
                found = await handle(event)
            except Exception as exc:  # never skipped silently: counted and dead-lettered
                guard.count("errors")
                guard.exception("record %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
                letter = dead_letter(
                    "error", repr(exc), msg.topic, event.value,
                    key=msg.key, partition=msg.partition, offset=msg.offset,
                )  # fmt: skip
                await send_confirmed(deadletter, msg.topic.encode(), encode(letter))
                found = []
            else:
                guard.count("ok")
            for finding in found:
                guard.count(finding.event)
                await finding.topic.send(key=finding.key, value=finding.value)
            progress.record(msg.topic, msg.partition, msg.offset, time.time())

    return AnalyticsRun(state, guard, batches)
