"""Faust adapter of the windows stage: metrics -> window aggregates -> alerts.

One WindowStore per metrics partition (the watermark is per partition). Closed windows go
to ``toka.aggregates`` (and, one record per close, to the analytics stages) and through the
alert rules, whose state lives in a changelogged table keyed by partition, so a killed or
rebalanced worker neither re-fires nor forgets.
Acks are held until a record's windows are emitted (see holdback.py), so open windows are
rebuilt from Kafka after a crash. Bad records go to ``toka.deadletter``; a worker never
stops on one record.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust

from pipeline.alerts.stage import alert_stage
from pipeline.deadletter import send_dead_letter
from pipeline.stage_errors import ProcessingGuard, register_guard
from pipeline.windows.completeness import Completeness
from pipeline.windows.core import WindowStore
from pipeline.windows.holdback import Holdback
from pipeline.windows.publish import AggregatePublisher
from schemas import MetricBatch, WindowAggregate, decode, encode
from schemas.config import TokaConfig
from schemas.errors import DecodeError
from schemas.records import new_id

__all__ = ["install"]

log = logging.getLogger(__name__)


def _newest_event_time(batch: MetricBatch) -> float:
    newest = batch.ts
    for s in batch.samples:
        if s.ts is not None and s.ts > newest:
            newest = s.ts
    return newest


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    pc = cfg.pipeline
    alerting = alert_stage(app, topics, cfg)
    stores: dict[int, WindowStore] = {}
    held: dict[int, Holdback[Any]] = {}
    complete: dict[int, Completeness] = {}
    # Last offset folded into each store: the seek that ends a rebalance may deliver again
    # what this worker already took (Faust fetches before it), and a store keeps it.
    applied: dict[int, int] = {}
    guard = ProcessingGuard("windows")
    metrics_topic = cfg.kafka.topic("metrics")
    publisher = AggregatePublisher(app, cfg)
    span = max(pc.window_seconds)
    idle_after = span + pc.grace_seconds + pc.idle_close_seconds + 2.0
    streams: list[faust.StreamT] = []

    def store_for(partition: int) -> WindowStore:
        if partition not in stores:
            stores[partition] = WindowStore.from_config(pc)
            held[partition] = Holdback(span, idle_after)
            complete[partition] = Completeness(pc.grace_seconds, pc.idle_close_seconds)
            applied[partition] = -1
        return stores[partition]

    async def emit(partition: int, aggregates: list[WindowAggregate], now: float) -> None:
        await publisher.publish(partition, aggregates)
        await alerting.evaluate(partition, aggregates, now)

    def complete_until(partition: int, now: float) -> float:
        return complete[partition].complete_until(now)

    async def release(partition: int, now: float) -> None:
        closed_through = max(
            stores[partition].watermark - pc.grace_seconds, complete_until(partition, now)
        )
        for event in held[partition].release(closed_through, now):
            await streams[0].ack(event)

    async def release_after_earlier(partition: int, now: float, event: Any) -> None:
        # A record with nothing to hold for (bad, or already folded in). Acks go in offset
        # order: Faust may commit past a held record when a later one is acked first.
        held[partition].hold(float("-inf"), now, event)
        await release(partition, now)

    @app.agent(topics.metrics, name="toka-windows")
    async def windows(stream: faust.StreamT) -> None:
        manual = cast("faust.Stream[Any]", stream).noack()
        streams[:] = [manual]
        async for event in manual.events():
            msg = event.message
            raw: bytes = event.value
            partition = msg.partition
            with guard.record():
                now = time.time()
                store = store_for(partition)
                if msg.offset <= applied[partition]:  # in the store already
                    guard.count("replayed")
                    await release_after_earlier(partition, now, event)
                    continue
                applied[partition] = msg.offset
                try:
                    batch = decode(raw, MetricBatch)
                except DecodeError as exc:
                    guard.count("decode")
                    await send_dead_letter(topics.deadletter, exc.reason, str(exc), raw, msg)
                    await release_after_earlier(partition, now, event)
                    continue
                late = store.add_batch(batch, now)
                newest = _newest_event_time(batch)
                held[partition].hold(newest, now, event)
                complete[partition].observe(batch.host, batch.source, newest, batch.interval, now)
                if late:
                    guard.count("late", len(late))
                    late_batch = MetricBatch(
                        id=new_id(), host=batch.host, source=batch.source, ts=batch.ts,
                        samples=late, resource=batch.resource,
                    )  # fmt: skip
                    err = f"{len(late)} sample(s) older than the grace period of record {batch.id}"
                    await send_dead_letter(topics.deadletter, "late", err, encode(late_batch), msg)
                await emit(partition, store.close_due(now, complete_until(partition, now)), now)
                await release(partition, now)

    @app.timer(interval=1.0, name="toka-windows-idle-close")
    async def close_idle() -> None:
        now = time.time()
        assigned = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == metrics_topic
        }
        for partition in list(stores):
            if partition not in assigned:  # revoked: its new owner replays the held records
                del stores[partition], complete[partition], applied[partition]
                held.pop(partition).drop()
        for partition in assigned:
            with guard.record(count_ok=False):
                if partition in stores:
                    closed = stores[partition].close_due(now, complete_until(partition, now))
                    await emit(partition, closed, now)
                    await release(partition, now)

    register_guard(app, guard)
