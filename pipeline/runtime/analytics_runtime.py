"""The analytics loop, written once: what the regressions, anomalies and capacity stages
share.

Each reads the aggregate-batches topic (plus any topics of its own) into a written-behind
state table (pipeline.tables.WriteBehind). The loop owns, for every stage:

- acks: every record is held until the table holds its effect (``WriteBehind.settle``);
- replay skip: a batch whose offset is among those the table holds (ranges: a batch
  Faust dropped around a rebalance comes back below later ones) is not applied twice;
- decode or dead-letter: a bad batch goes to the dead-letter topic whole, a bad aggregate
  in a good batch alone; a dead letter is confirmed delivered, and while it cannot be the
  loop retries it, holding its record and every later one (nothing skipped, the stall
  shows in /healthz);
- error policy: an aggregate the stage fails on is dead-lettered with its reason, counted
  as ``errors`` and logged (rate-limited); the batch's other aggregates still count; a
  record that fails outside any aggregate is dead-lettered whole;
- a revoked partition's batch in flight is not applied;
- findings: made durable before they are sent (a replay must not find them again);
- idle state: keys under the logic's ``IDLE_PREFIXES`` unused for
  ``analytics.state_idle_hours`` are dropped (counted as ``evicted``).

A stage gives an ``AnalyticsLogic``: ``on_aggregate`` per aggregate and, for topics of
its own, an ``on_record`` handler. ``AnalyticsLoop`` is the loop without Faust (tests
drive it with plain records); ``run_analytics`` wires it to an agent and timers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, Protocol, cast

import faust

from pipeline.deadletter import dead_letter, decode_batch_or_dead_letter, decode_or_dead_letter
from pipeline.runtime.context import StageContext
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.tables import WriteBehind, partitioned_table, positions_table
from schemas import WindowAggregate, encode
from schemas.errors import TokaError

__all__ = [
    "AnalyticsLogic",
    "AnalyticsLoop",
    "ConfirmedTopic",
    "Finding",
    "Refused",
    "run_analytics",
]


class Finding(NamedTuple):
    """One record a stage found, for ``topic``; ``event`` names its count."""

    topic: Any
    key: bytes
    value: bytes
    event: str


class Refused(TokaError):
    """Raised by a stage for a record it cannot take: the loop dead-letters the record
    with ``reason`` (also counted under it)."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason


class AnalyticsLogic(Protocol):
    def on_aggregate(self, agg: WindowAggregate, partition: int) -> Iterable[Finding]: ...


#: For records of a stage's own topics: (decoded record, raw bytes, message).
RecordHandler = Callable[[Any, bytes, Any], Awaitable[Iterable[Finding]]]


class ConfirmedTopic:
    """A topic whose ``send`` returns once Kafka has the record, retrying (with backoff,
    counted, logged rate-limited) while it cannot: the caller's record waits, unacked."""

    def __init__(self, topic: Any, guard: ProcessingGuard, max_backoff: float = 5.0) -> None:
        self._topic, self._guard, self._max_backoff = topic, guard, max_backoff

    async def send(self, key: bytes, value: bytes) -> None:
        backoff = 0.1
        while True:
            try:
                delivery = await self._topic.send(key=key, value=value)
                await delivery
                return
            except Exception:
                self._guard.count("deadletter_failed")
                self._guard.exception("dead letter not delivered: retrying (record held)")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)


class AnalyticsLoop:
    def __init__(
        self,
        state: WriteBehind,
        logic: AnalyticsLogic,
        guard: ProcessingGuard,
        progress: Progress,
        *,
        deadletter: Any,
        batches: str,
        on_record: RecordHandler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``deadletter``: a topic whose ``send(key=, value=)`` returns once delivered."""
        self.state, self.logic, self.guard, self.progress = state, logic, guard, progress
        self.deadletter, self.batches, self._on_record = deadletter, batches, on_record
        self._clock = clock

    async def handle(self, value: bytes, msg: Any) -> list[Finding]:
        """Apply one record (``msg``: topic, partition, offset, key, timestamp); returns
        what to send once it is durable. Never raises for a bad record."""
        self.state.now = now = self._clock()
        try:
            found = await self._apply(value, msg)
        except Refused as exc:
            self.guard.count(exc.reason)
            self.guard.count("ok")  # handled as designed: dead-lettered
            await self._dead_letter(exc.reason, str(exc), value, msg)
            found = []
        except Exception as exc:  # never skipped silently: counted and dead-lettered
            self.guard.count("errors")
            self.guard.exception("record %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
            await self._dead_letter("error", repr(exc), value, msg)
            found = []
        else:
            self.guard.count("ok")
        self.progress.record(msg.topic, msg.partition, msg.offset, now)
        return found

    async def _apply(self, raw: bytes, msg: Any) -> list[Finding]:
        state, p = self.state, msg.partition
        if msg.topic == self.batches:
            if state.replayed(p, msg.offset, msg.timestamp):
                self.guard.count("replayed")
                return []
            aggs = await decode_batch_or_dead_letter(raw, msg, self.deadletter, self.guard)
            if aggs is None or not state.owns(p):
                return []
            found = await self._aggregates(aggs, msg)
            state.applied(p, msg.offset, msg.timestamp)
            if found:  # durable first: a replay must not find it again
                state.flush()
            return found
        record = await decode_or_dead_letter(raw, msg, self.deadletter, self.guard)
        if record is None or not state.owns(p) or self._on_record is None:
            return []
        found = list(await self._on_record(record, raw, msg))
        state.flush()  # rare records: written through
        return found

    async def _aggregates(self, aggs: list[WindowAggregate], msg: Any) -> list[Finding]:
        found: list[Finding] = []
        for agg in aggs:
            try:
                found.extend(self.logic.on_aggregate(agg, msg.partition))
            except Exception as exc:  # one failing series must not stop the rest
                self.guard.count("errors")
                self.guard.exception("aggregate %s failed", agg.series)
                await self._dead_letter("error", repr(exc), encode(agg), msg)
        return found

    async def _dead_letter(self, reason: str, error: str, payload: bytes, msg: Any) -> None:
        letter = dead_letter(
            reason, error, msg.topic, payload,
            key=msg.key, partition=msg.partition, offset=msg.offset,
        )  # fmt: skip
        await self.deadletter.send(key=msg.topic.encode(), value=encode(letter))

    def evict_idle(self, partitions: Iterable[int], idle: float) -> int:
        prefixes = tuple(getattr(self.logic, "IDLE_PREFIXES", ()))
        if not prefixes:
            return 0
        self.state.now = self._clock()
        n = sum(self.state.evict_idle(p, prefixes, idle) for p in partitions)
        self.guard.count("evicted", n)
        return n


def run_analytics(
    ctx: StageContext,
    stage: str,
    table: str,
    make_logic: Callable[[WriteBehind], AnalyticsLogic],
    *more_topics: str,
    on_record: RecordHandler | None = None,
    read_batches: bool = True,
) -> AnalyticsLoop:
    """Run the logic ``make_logic`` builds over the stage's state on an agent of the
    aggregate-batches topic (and ``more_topics``). ``read_batches=False``: a stage of its
    own topics only (no aggregate batch decoded for nothing); it follows the assignment of
    the first of ``more_topics``."""
    app, cfg = ctx.app, ctx.cfg
    parts = cfg.pipeline.partitions
    state = WriteBehind(
        partitioned_table(app, table, parts), positions_table(app, parts), stage,
        cfg.analytics.state_flush_seconds,
    )  # fmt: skip
    batches = cfg.kafka.topic("aggregate-batches")
    topics = (batches, *more_topics) if read_batches else more_topics
    followed = topics[0]
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    source = app.topic(*topics, key_type=bytes, value_type=bytes, internal=True, partitions=parts)
    state.attach(app, followed)
    ctx.progress.watch(*topics)
    guard = ctx.guard(stage)
    loop = AnalyticsLoop(
        state, make_logic(state), guard, ctx.progress,
        deadletter=ConfirmedTopic(ctx.topics.deadletter, guard),
        batches=batches if read_batches else "",
        on_record=on_record,
    )  # fmt: skip

    @app.agent(source, name=f"toka-{stage}")
    async def consume(stream: faust.StreamT) -> None:
        manual = cast("faust.Stream[Any]", stream).noack()  # acked by state.settle()
        async for event in manual.events():
            state.hold(manual, event)
            for finding in await loop.handle(event.value, event.message):
                guard.count(finding.event)
                await finding.topic.send(key=finding.key, value=finding.value)
                await ctx.found(event.message.partition, finding.value)

    idle = cfg.analytics.state_idle_hours * 3600

    @app.timer(interval=min(600.0, idle / 10), name=f"toka-{stage}-evict")
    async def evict() -> None:
        with guard.timer_run():
            owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == followed}
            loop.evict_idle(sorted(owned), idle)

    return loop
