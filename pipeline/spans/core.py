"""Spans -> RED metrics (rate, errors, duration) per service and operation (pure).

Each span becomes three samples at its end time, labelled service and operation, and goes
through the same WindowStore as host metrics, so RED aggregates are ordinary
WindowAggregates in the same windows: every alert rule and detector reads them as is.

    toka_span_calls             w per span        sum = calls
    toka_span_errors            w if error else 0 sum = errors; errors / calls = error ratio
    toka_span_duration_seconds  end - start       p50/p90/p95/p99 within 1%

``w = 1 / sample_rate``: a span kept with probability p stands for 1/p spans, so the sums
are unbiased estimates of the real calls and errors (Horvitz-Thompson), not counts of the
sample. Unsampled (p = 1), ``count`` is the calls too and the errors' ``mean`` the ratio.
Durations are not weighted: the sample's percentiles estimate the traffic's.
"""

from __future__ import annotations

from pipeline.windows.core import WindowStore
from schemas.records import MetricBatch, Sample, Span, SpanBatch, WindowAggregate

__all__ = ["CALLS", "DURATION", "ERRORS", "RED_METRICS", "SpanWindows", "span_samples"]

CALLS = "toka_span_calls"
ERRORS = "toka_span_errors"
DURATION = "toka_span_duration_seconds"
RED_METRICS = (CALLS, ERRORS, DURATION)

#: Where a batch names its service (OTel resource semantic conventions), in order.
_SERVICE_KEYS = ("service.name", "service")


def service_of(batch: SpanBatch) -> str:
    for key in _SERVICE_KEYS:
        name = batch.resource.get(key)
        if name:
            return name
    return "unknown_service"


def span_samples(batch: SpanBatch) -> MetricBatch:
    """The RED samples of one SpanBatch, as a MetricBatch of the same host."""
    service = service_of(batch)
    weight = 1.0 / batch.sample_rate
    samples: list[Sample] = []
    add = samples.append
    labels_by_op: dict[str, dict[str, str]] = {}  # one labels dict per operation per batch
    latest = 0.0
    for span in batch.spans:
        labels = labels_by_op.get(span.name)
        if labels is None:
            labels = labels_by_op[span.name] = {"service": service, "operation": span.name}
        ts = span.end_ns / 1e9
        latest = max(latest, ts)
        duration = max(span.end_ns - span.start_ns, 0) / 1e9  # clock skew: never negative
        add(Sample(name=CALLS, value=weight, labels=labels, ts=ts))
        add(Sample(name=ERRORS, value=weight if span.status == "error" else 0.0, labels=labels,
                   ts=ts))  # fmt: skip
        add(Sample(name=DURATION, value=duration, labels=labels, ts=ts))
    return MetricBatch(
        id=batch.id, host=batch.host, source="spans", ts=latest, samples=samples,
        resource=batch.resource,
    )  # fmt: skip


class SpanWindows:
    """RED windows of one spans partition: a WindowStore fed with span samples."""

    def __init__(self, store: WindowStore) -> None:
        self.store = store

    def add(self, batch: SpanBatch, now: float) -> list[Span]:
        """Fold one batch; returns the spans later than the grace period (for dead-letter)."""
        red = span_samples(batch)
        late = self.store.add_batch(red, now)
        if not late:
            return []
        # A span is late when its calls sample is: samples come in threes, one per span.
        late_ids = {id(s) for s in late}
        calls = red.samples[::3]
        return [sp for sp, s in zip(batch.spans, calls, strict=True) if id(s) in late_ids]

    def close_due(self, now: float) -> list[WindowAggregate]:
        return self.store.close_due(now)
