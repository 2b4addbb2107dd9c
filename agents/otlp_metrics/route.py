"""``POST /v1/metrics`` on the agent's OTLP/HTTP receiver (agents/spans/receiver.py), which
serves it under the endpoint guard: content type, inflating, size, 503 while the publisher
cannot take more and the error answers are the receiver's; this is what the route does
with a body.

Each ResourceMetrics becomes one MetricBatch of this host (through ``publish``), so pushed
metrics go through the same redaction, limits and windows as collected ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from agents.otlp_metrics.convert import DeltaState, ResourceSamples, parse_request, request_samples

__all__ = ["MetricsRoute"]


class MetricsRoute:
    def __init__(
        self, publish: Callable[[ResourceSamples], None], deltas: DeltaState | None = None
    ) -> None:
        self._publish = publish
        self._deltas = deltas or DeltaState()

    @staticmethod
    def parse(body: bytes, json: bool) -> Any:
        """The request, in the caller's thread; DecodeError for a malformed body."""
        return parse_request(body, json)

    def apply(self, request: Any) -> None:
        """On the event loop: the delta state and the publisher are the loop's."""
        for group in request_samples(request, self._deltas):
            if group[1]:
                self._publish(group)

    @staticmethod
    def success(json: bool) -> bytes:
        if json:
            return orjson.dumps({})
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceResponse,
        )

        return ExportMetricsServiceResponse().SerializeToString()  # type: ignore[no-any-return]
