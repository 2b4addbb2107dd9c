"""Faust adapter of the windows stage: metrics -> window aggregates -> alerts.

One WindowStore per metrics partition (the watermark is per partition). Closed windows go
to ``toka.aggregates`` and through the alert rules, whose state lives in a changelogged
table keyed by partition, so a killed or rebalanced worker neither re-fires nor forgets.
Bad records go to ``toka.deadletter``; a worker never stops on one record.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from pipeline.alerts import load_rules
from pipeline.windows.core import WindowStore

from pipeline.deadletter import dead_letter
from pipeline.stage_errors import ProcessingGuard
from pipeline.tables import PartitionView, partitioned_table
from schemas import MetricBatch, WindowAggregate, decode, encode
from schemas.config import TokaConfig
from schemas.errors import DecodeError
from schemas.records import new_id

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    pc = cfg.pipeline
    rules = load_rules(pc.rules_file, cfg.monitoring.thresholds)
    alert_state = partitioned_table(app, "toka-alert-state", pc.partitions)
    stores: dict[int, WindowStore] = {}
    guard = ProcessingGuard("windows")
    metrics_topic = cfg.kafka.topic("metrics")

    def store_for(partition: int) -> WindowStore:
        if partition not in stores:
            stores[partition] = WindowStore(
                pc.window_seconds, grace=pc.grace_seconds, idle_close=pc.idle_close_seconds
            )
        return stores[partition]

    async def emit(partition: int, aggregates: list[WindowAggregate], now: float) -> None:
        states = PartitionView(alert_state, partition)
        for agg in aggregates:
            await topics.aggregates.send(key=agg.series.encode(), value=encode(agg))
            for alert in rules.evaluate(agg, states, now):
                await topics.alerts.send(key=alert.fingerprint.encode(), value=encode(alert))

    async def to_dead_letter(reason: str, error: str, original: bytes, msg: Any) -> None:
        record = dead_letter(
            reason, error, msg.topic, original,
            key=msg.key, partition=msg.partition, offset=msg.offset,
        )  # fmt: skip
        await topics.deadletter.send(key=msg.topic.encode(), value=encode(record))

    @app.agent(topics.metrics, name="toka-windows")
    async def windows(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            raw: bytes = event.value
            with guard.record():
                try:
                    batch = decode(raw, MetricBatch)
                except DecodeError as exc:
                    guard.count("decode")
                    await to_dead_letter(exc.reason, str(exc), raw, msg)
                    continue
                now = time.time()
                store = store_for(msg.partition)
                late = store.add_batch(batch, now)
                if late:
                    guard.count("late", len(late))
                    late_batch = MetricBatch(
                        id=new_id(), host=batch.host, source=batch.source, ts=batch.ts,
                        samples=late, resource=batch.resource,
                    )  # fmt: skip
                    err = f"{len(late)} sample(s) older than the grace period of record {batch.id}"
                    await to_dead_letter("late", err, encode(late_batch), msg)
                await emit(msg.partition, store.close_due(now), now)

    @app.timer(interval=1.0, name="toka-windows-idle-close")
    async def close_idle() -> None:
        now = time.time()
        assigned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == metrics_topic}
        for partition in list(stores):
            if partition not in assigned:
                del stores[partition]  # revoked: its new owner rebuilds from the stream
        for partition in assigned:
            with guard.record():
                if partition in stores:
                    await emit(partition, stores[partition].close_due(now), now)
                states = PartitionView(alert_state, partition)
                for alert in rules.tick(states, now):
                    await topics.alerts.send(key=alert.fingerprint.encode(), value=encode(alert))

    app.toka_guards = [*getattr(app, "toka_guards", []), guard]
