"""One Collector message (ExportMetricsServiceRequest, ``otlp_proto`` or ``otlp_json``) into
MetricBatches, one per resource (pure, apart from the delta state the caller owns).

The conversion is the agent's (``agents.otlp_metrics.convert``): pushed and collected
metrics name and label the same way. Each batch is keyed by its resource's host, so one
series always lands on one ``toka.metrics`` partition whatever partition the Collector's
exporter wrote it to. Ids derive from the message's position: a replay after a crash
rebuilds the same records, which consumers drop as duplicates.
"""

from __future__ import annotations

from agents.otlp_metrics.convert import DeltaState, parse_request, request_samples
from schemas.errors import DecodeError
from schemas.records import MetricBatch

__all__ = ["decode_otlp_metrics", "resource_host"]

#: Where a resource names its host, in order (OTel semantic conventions).
_HOST_KEYS = ("host.name", "k8s.pod.name", "service.instance.id", "service.name")


def resource_host(resource: dict[str, str]) -> str:
    for key in _HOST_KEYS:
        if resource.get(key):
            return resource[key]
    return "unknown"


def decode_otlp_metrics(data: bytes, deltas: DeltaState, id_prefix: str) -> list[MetricBatch]:
    """MetricBatches of one message; JSON or protobuf told apart by the first byte (a
    message that is not valid JSON is read as protobuf, the exporter's default)."""
    if data.lstrip()[:1] == b"{":
        try:
            request = parse_request(data, json=True)
        except DecodeError:
            request = parse_request(data, json=False)
    else:
        request = parse_request(data, json=False)
    out = []
    for i, (resource, samples) in enumerate(request_samples(request, deltas)):
        if not samples:
            continue
        ts = max((s.ts or 0.0 for s in samples), default=0.0)
        out.append(MetricBatch(id=f"{id_prefix}-{i}", host=resource_host(resource),
                               source="otlp_metrics", ts=ts, samples=samples,
                               resource=resource))  # fmt: skip
    return out
