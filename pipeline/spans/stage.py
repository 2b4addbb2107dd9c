"""Faust adapter of the spans stage: SpanBatch and OTLP spans -> RED window aggregates.

One SpanWindows per (topic, partition): the watermark is per partition. Closed windows go
to ``toka.aggregates`` keyed by series id, and through the shared alert rules (so RED
metrics alert like any other series). As in the windows stage, a record is acked only
once every window it fed has been emitted (Holdback), so a killed worker's open windows
are rebuilt from the uncommitted records; their deterministic ids dedupe downstream.
Undecodable records and spans later than the grace period go to ``toka.deadletter`` keyed
by source topic; the stream never stops on one record. A timer closes windows of idle
partitions and drops revoked partitions' state (their new owner replays the held records).
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust

from agents.redact import Redactor
from pipeline.alerts.stage import alert_stage
from pipeline.deadletter import send_dead_letter
from pipeline.spans.core import SpanWindows
from pipeline.spans.otlp import decode_otlp_spans
from pipeline.stage_errors import ProcessingGuard, register_guard
from pipeline.windows.core import WindowStore
from pipeline.windows.holdback import Holdback
from pipeline.windows.publish import AggregatePublisher
from schemas import SpanBatch, WindowAggregate, decode, encode
from schemas.config import TokaConfig
from schemas.errors import DecodeError
from schemas.records import Span, new_id

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    pc = cfg.pipeline
    alerting = alert_stage(app, topics, cfg)
    publisher = AggregatePublisher(app, cfg)
    windows: dict[tuple[str, int], SpanWindows] = {}
    held: dict[tuple[str, int], Holdback[Any]] = {}
    streams: dict[str, faust.StreamT] = {}  # topic -> its agent's manual-ack stream
    guard = ProcessingGuard("spans")
    span = max(pc.window_seconds) + pc.grace_seconds
    idle_after = span + pc.idle_close_seconds + 2.0

    def windows_for(topic: str, partition: int) -> SpanWindows:
        key = (topic, partition)
        if key not in windows:
            windows[key] = SpanWindows(WindowStore.from_config(pc))
            held[key] = Holdback(span, idle_after)
        return windows[key]

    async def release(key: tuple[str, int], now: float) -> None:
        for event in held[key].release(windows[key].store.watermark, now):
            await streams[key[0]].ack(event)

    async def emit(key: tuple[str, int], aggregates: list[WindowAggregate]) -> None:
        await publisher.publish(key[1], aggregates)
        # Alert state is keyed by input partition; an OTLP partition with no toka.spans or
        # toka.metrics twin on this worker (more OTLP partitions than ours) has no state
        # slot here, so its RED windows are emitted but not alerted on.
        if aggregates and key[1] in alerting.assigned_partitions():
            await alerting.evaluate(key[1], aggregates, time.time())

    async def fold(batches: list[SpanBatch], event: Any) -> None:
        msg = event.message
        now = time.time()
        key = (msg.topic, msg.partition)
        sw = windows_for(*key)
        newest = 0.0
        for batch in batches:
            late: list[Span] = sw.add(batch, now)
            newest = max(newest, max((sp.end_ns for sp in batch.spans), default=0) / 1e9)
            if late:
                guard.count("late", len(late))
                late_batch = SpanBatch(
                    id=new_id(), host=batch.host, spans=late, resource=batch.resource
                )
                err = f"{len(late)} span(s) older than the grace period of record {batch.id}"
                await send_dead_letter(topics.deadletter, "late", err, encode(late_batch), msg)
        held[key].hold(newest, now, event)
        await emit(key, sw.close_due(now))
        await release(key, now)

    async def consume(stream: faust.StreamT, topic: str, parse: Any) -> None:
        manual = cast("faust.Stream[Any]", stream).noack()
        streams[topic] = manual
        async for event in manual.events():
            msg, raw = event.message, event.value
            with guard.record():
                try:
                    batches = parse(raw)
                except DecodeError as exc:
                    guard.count("decode")
                    await send_dead_letter(topics.deadletter, exc.reason, str(exc), raw, msg)
                    # Acks in offset order (see windows/stage.py): held behind the others.
                    key = (msg.topic, msg.partition)
                    windows_for(*key)
                    now = time.time()
                    held[key].hold(float("-inf"), now, event)
                    await release(key, now)
                    continue
                await fold(batches, event)

    spans_name = topics.spans.get_topic_name()

    @app.agent(topics.spans, name="toka-spans")
    async def spans(stream: faust.StreamT) -> None:
        await consume(stream, spans_name, lambda raw: [decode(raw, SpanBatch)])

    otlp_name = pc.otlp_spans_topic
    if otlp_name:
        otlp_topic = app.topic(otlp_name, key_type=bytes, value_type=bytes)

        redactor = Redactor.from_config(cfg.agent.redaction)

        @app.agent(otlp_topic, name="toka-otlp-spans")
        async def otlp_spans(stream: faust.StreamT) -> None:
            await consume(stream, otlp_name, lambda raw: decode_otlp_spans(raw, redactor=redactor))

    span_topics = {spans_name, *([otlp_name] if otlp_name else [])}

    @app.timer(interval=1.0, name="toka-spans-idle-close")
    async def close_idle() -> None:
        now = time.time()
        assigned = {
            (tp.topic, tp.partition)
            for tp in app.assignor.assigned_actives()
            if tp.topic in span_topics
        }
        for key in list(windows):
            if key not in assigned:  # revoked: its new owner replays the held records
                del windows[key]
                held.pop(key).drop()
        for key in assigned & windows.keys():
            with guard.record():
                await emit(key, windows[key].close_due(now))
                await release(key, now)

    register_guard(app, guard)
