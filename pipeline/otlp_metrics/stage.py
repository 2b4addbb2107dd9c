"""Faust adapter: read the Collector's ``otlp_metrics`` topic (``pipeline.otlp_metrics_topic``),
write MetricBatches to ``toka.metrics`` keyed by host, where the windows stage takes them
like any agent's. A record is acknowledged only once its batches are on ``toka.metrics``;
an undecodable one goes to the dead-letter topic.

Delta temporality is summed per stream in this worker's memory: a stream must reach one
worker, so have the Collector's Kafka exporter partition by resource
(``partition_metrics_by_resource_attributes: true``) or send cumulative metrics (its
``deltatocumulative`` processor). After a restart a delta stream starts again from zero,
which the windows read as a counter reset.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from agents.otlp_metrics.convert import DeltaState
from pipeline.deadletter import send_dead_letter
from pipeline.otlp_metrics.core import decode_otlp_metrics
from pipeline.stage_errors import ProcessingGuard, register_guard
from schemas import encode
from schemas.config import TokaConfig
from schemas.errors import DecodeError

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    name = cfg.pipeline.otlp_metrics_topic
    if not name:
        return
    source = app.topic(name, key_type=bytes, value_type=bytes)
    deltas = DeltaState()
    guard = ProcessingGuard("otlp-metrics")
    register_guard(app, guard)

    @app.agent(source, name="toka-otlp-metrics")
    async def rekey(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg, raw = event.message, event.value
            with guard.record():
                prefix = f"otlp-{msg.topic}-{msg.partition}-{msg.offset}"
                try:
                    batches = decode_otlp_metrics(raw, deltas, prefix)
                except DecodeError as exc:
                    guard.count("decode")
                    await send_dead_letter(topics.deadletter, exc.reason, str(exc), raw, msg)
                    continue
                for batch in batches:
                    sent = await topics.metrics.send(key=batch.host.encode(), value=encode(batch))
                    await sent  # on toka.metrics before this record is acknowledged
