"""Faust adapter of the spans stage: SpanBatch and OTLP spans -> RED window aggregates.

One SpanWindows per (topic, partition): the watermark is per partition. Closed windows go
to ``toka.aggregates`` keyed by series id. Undecodable records and spans later than the
grace period go to ``toka.deadletter`` keyed by source topic; the stream never stops on one
record. A timer closes windows of idle partitions and drops revoked partitions' state
(their new owner rebuilds it from the stream).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from pipeline.deadletter import dead_letter
from pipeline.spans.core import SpanWindows
from pipeline.spans.otlp import decode_otlp_spans
from pipeline.stage_errors import ProcessingGuard
from pipeline.windows.core import WindowStore
from schemas import SpanBatch, WindowAggregate, decode, encode
from schemas.config import TokaConfig
from schemas.errors import DecodeError
from schemas.records import Span, new_id

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    pc = cfg.pipeline
    windows: dict[tuple[str, int], SpanWindows] = {}
    guard = ProcessingGuard("spans")
    app.toka_spans_guard = guard  # for liveness and metrics pages

    def windows_for(topic: str, partition: int) -> SpanWindows:
        key = (topic, partition)
        if key not in windows:
            windows[key] = SpanWindows(WindowStore.from_config(pc))
        return windows[key]

    async def emit(aggregates: list[WindowAggregate]) -> None:
        for agg in aggregates:
            await topics.aggregates.send(key=agg.series.encode(), value=encode(agg))

    async def to_dead_letter(reason: str, error: str, original: bytes, msg: Any) -> None:
        record = dead_letter(
            reason, error, msg.topic, original,
            key=msg.key, partition=msg.partition, offset=msg.offset,
        )  # fmt: skip
        await topics.deadletter.send(key=msg.topic.encode(), value=encode(record))

    async def fold(batches: list[SpanBatch], msg: Any) -> None:
        now = time.time()
        sw = windows_for(msg.topic, msg.partition)
        for batch in batches:
            late: list[Span] = sw.add(batch, now)
            if late:
                guard.count("late", len(late))
                late_batch = SpanBatch(
                    id=new_id(), host=batch.host, spans=late, resource=batch.resource
                )
                err = f"{len(late)} span(s) older than the grace period of record {batch.id}"
                await to_dead_letter("late", err, encode(late_batch), msg)
        await emit(sw.close_due(now))

    @app.agent(topics.spans, name="toka-spans")
    async def spans(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg, raw = event.message, event.value
            with guard.record():
                try:
                    batch = decode(raw, SpanBatch)
                except DecodeError as exc:
                    guard.count("decode")
                    await to_dead_letter(exc.reason, str(exc), raw, msg)
                    continue
                await fold([batch], msg)

    otlp_name = pc.otlp_spans_topic
    if otlp_name:
        otlp_topic = app.topic(otlp_name, key_type=bytes, value_type=bytes)

        @app.agent(otlp_topic, name="toka-otlp-spans")
        async def otlp_spans(stream: faust.StreamT) -> None:
            async for event in stream.events():
                msg, raw = event.message, event.value
                with guard.record():
                    try:
                        batches = decode_otlp_spans(raw)
                    except DecodeError as exc:
                        guard.count("decode")
                        await to_dead_letter(exc.reason, str(exc), raw, msg)
                        continue
                    await fold(batches, msg)

    span_topics = {topics.spans.get_topic_name(), *([otlp_name] if otlp_name else [])}

    @app.timer(interval=1.0, name="toka-spans-idle-close")
    async def close_idle() -> None:
        now = time.time()
        assigned = {
            (tp.topic, tp.partition)
            for tp in app.assignor.assigned_actives()
            if tp.topic in span_topics
        }
        for key in list(windows):
            if key not in assigned:
                del windows[key]  # revoked: its new owner rebuilds from the stream
        for key in assigned & windows.keys():
            with guard.record():
                await emit(windows[key].close_due(now))
