"""Read the Collector's ``otlp_metrics`` topic (``pipeline.otlp_metrics_topic``), write
MetricBatches to ``toka.metrics`` keyed by host, where the windows stage takes them like
any agent's. It runs on the windowed-ingest runtime with no windows of its own: a record
is acknowledged only once its batches are delivered to ``toka.metrics``; an undecodable
one goes to the dead-letter topic (the runtime does both).

Delta temporality is summed per stream in this worker's memory: a stream must reach one
worker, so have the Collector's Kafka exporter partition by resource
(``partition_metrics_by_resource_attributes: true``) or send cumulative metrics (its
``deltatocumulative`` processor). After a restart a delta stream starts again from zero,
which the windows read as a counter reset.
"""

from __future__ import annotations

from typing import Any

from agents.otlp_metrics.convert import DeltaState
from pipeline.otlp_metrics.core import decode_otlp_metrics
from pipeline.runtime.context import StageContext
from pipeline.runtime.faust_runtime import run_windowed
from pipeline.runtime.windowed_runtime import Delivered, Folded, Output
from schemas import WindowAggregate, encode

__all__ = ["OtlpMetricsRelay", "install"]

_NEG_INF = float("-inf")


class OtlpMetricsRelay:
    """One otlp_metrics partition: each message's MetricBatches, to send on (no windows).
    ``deltas`` is shared by every partition of the worker (see above)."""

    def __init__(self, deltas: DeltaState, metrics_topic: Any) -> None:
        self.deltas, self.metrics_topic = deltas, metrics_topic

    def fold(self, record: Delivered, now: float) -> Folded:
        # Ids from the message's position: a replayed message yields the same batches.
        prefix = f"otlp-{record.topic}-{record.partition}-{record.offset}"
        batches = decode_otlp_metrics(record.value, self.deltas, prefix)
        outputs = [Output(self.metrics_topic, b.host.encode(), encode(b)) for b in batches]
        return Folded(_NEG_INF, outputs=outputs)

    def close_due(self, now: float) -> list[WindowAggregate]:
        return []

    def closed_through(self, now: float) -> float:
        return float("inf")  # nothing held for windows: acks wait for the sends only


def install(ctx: StageContext) -> None:
    name = ctx.cfg.pipeline.otlp_metrics_topic
    if not name:
        return
    source = ctx.app.topic(name, key_type=bytes, value_type=bytes)
    deltas = DeltaState()
    run_windowed(
        ctx, "otlp-metrics", [(source, "toka-otlp-metrics")],
        lambda _topic, _partition: OtlpMetricsRelay(deltas, ctx.topics.metrics),
    )  # fmt: skip
