"""Building records: samples -> MetricBatch -> the bytes and key Kafka gets. Pure."""

from __future__ import annotations

from msgspec.structs import replace

from agents.publish.publisher import OutRecord
from schemas.codec import encode
from schemas.records import MetricBatch, Sample, SpanBatch, new_id

__all__ = ["metric_batch", "metric_record", "metric_records", "span_record", "span_records"]


def metric_batch(
    host: str,
    source: str,
    samples: list[Sample],
    ts: float,
    resource: dict[str, str],
    *,
    interval: float | None = None,
) -> MetricBatch:
    """``interval``: the source's collection interval (the pipeline's completeness promise)."""
    return MetricBatch(
        id=new_id(), host=host, source=source, ts=ts, samples=samples, resource=resource,
        interval=interval,
    )  # fmt: skip


def metric_record(topic: str, batch: MetricBatch) -> OutRecord:
    """Key = host: one host's scrapes stay in order on one partition."""
    return OutRecord(topic=topic, key=batch.host.encode(), value=encode(batch))


def span_record(topic: str, batch: SpanBatch) -> OutRecord:
    """Key = service: one service's spans land on one partition for the RED stage."""
    service = batch.resource.get("service.name", "unknown")
    return OutRecord(topic=topic, key=service.encode(), value=encode(batch))


def metric_records(topic: str, batch: MetricBatch, max_bytes: int) -> list[OutRecord]:
    """Normally one record per collection; split in halves (each with its own id) only when
    it would be over ``max_bytes``, so a big scrape is sent in parts rather than dropped."""
    rec = metric_record(topic, batch)
    if len(rec.value) <= max_bytes or len(batch.samples) < 2:
        return [rec]
    mid = len(batch.samples) // 2
    halves = (batch.samples[:mid], batch.samples[mid:])
    return [
        r
        for part in halves
        for r in metric_records(topic, replace(batch, id=new_id(), samples=part), max_bytes)
    ]


def span_records(topic: str, batch: SpanBatch, max_bytes: int) -> list[OutRecord]:
    """SpanBatch records of at most ``max_bytes`` each (see metric_records)."""
    rec = span_record(topic, batch)
    if len(rec.value) <= max_bytes or len(batch.spans) < 2:
        return [rec]
    mid = len(batch.spans) // 2
    halves = (batch.spans[:mid], batch.spans[mid:])
    return [
        r
        for part in halves
        for r in span_records(topic, replace(batch, id=new_id(), spans=part), max_bytes)
    ]
