"""Collector-style otlp_metrics messages, built by the OpenTelemetry SDK's own encoder."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

__all__ = ["sdk_requests"]


def sdk_requests(host: str, rounds: int, temporality: str = "cumulative") -> list[Any]:
    """One ExportMetricsServiceRequest per round: a counter +5 and two latencies per round."""
    t = AggregationTemporality[temporality.upper()]
    reader = InMemoryMetricReader(preferred_temporality={Counter: t, Histogram: t})
    provider = MeterProvider(
        resource=Resource({"service.name": "billing", "host.name": host}),
        metric_readers=[reader],
    )
    meter = provider.get_meter("billing")
    jobs = meter.create_counter("jobs.done")
    latency = meter.create_histogram(
        "job.duration", unit="s", explicit_bucket_boundaries_advisory=[0.25, 1.0, 5.0]
    )
    out = []
    for _ in range(rounds):
        jobs.add(5, {"queue": "email"})
        latency.record(0.2, {"queue": "email"})
        latency.record(3.0, {"queue": "email"})
        out.append(encode_metrics(reader.get_metrics_data()))
    provider.shutdown()
    return out
