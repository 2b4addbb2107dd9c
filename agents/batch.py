"""Building records: samples -> MetricBatch -> the bytes and key Kafka gets. Pure."""

from __future__ import annotations

from agents.publish.publisher import OutRecord
from schemas.codec import encode
from schemas.records import MetricBatch, Sample, SpanBatch, new_id

__all__ = ["metric_batch", "metric_record", "span_record"]


def metric_batch(
    host: str, source: str, samples: list[Sample], ts: float, resource: dict[str, str]
) -> MetricBatch:
    return MetricBatch(
        id=new_id(), host=host, source=source, ts=ts, samples=samples, resource=resource
    )


def metric_record(topic: str, batch: MetricBatch) -> OutRecord:
    """Key = host: one host's scrapes stay in order on one partition."""
    return OutRecord(topic=topic, key=batch.host.encode(), value=encode(batch))


def span_record(topic: str, batch: SpanBatch) -> OutRecord:
    """Key = service: one service's spans land on one partition for the RED stage."""
    service = batch.resource.get("service.name", "unknown")
    return OutRecord(topic=topic, key=service.encode(), value=encode(batch))
