"""``POST /v1/metrics`` on the agent's OTLP/HTTP receiver: protobuf or JSON, gzip or not.

Answers as the OTLP spec says: 200 with an ExportMetricsServiceResponse, 400 with a Status
for a malformed body, 413 for an oversized one, 415 for another content type, 503 with
Retry-After while the publisher cannot take more. Each ResourceMetrics becomes one
MetricBatch of this host (through ``publish``), so pushed metrics go through the same
redaction, limits and windows as collected ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from agents.otlp_metrics.convert import DeltaState, ResourceSamples, parse_request, request_samples
from agents.otlp_status import status_proto
from agents.ratelog import RateLimitedLog
from agents.selfmetrics import AgentMetrics
from schemas.errors import DecodeError

__all__ = ["add_metrics_route"]

log = logging.getLogger("toka.agent.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INVALID_ARGUMENT, _UNAVAILABLE = 3, 14


def add_metrics_route(
    app: web.Application,
    publish: Callable[[ResourceSamples], None],
    metrics: AgentMetrics,
    *,
    max_body: int,
    saturated: Callable[[], bool] = lambda: False,
    deltas: DeltaState | None = None,
) -> None:
    """Route ``POST /v1/metrics`` of ``app`` to ``publish``, one call per resource."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceResponse,
    )

    state = deltas or DeltaState()
    rlog = RateLimitedLog(log)

    def refuse(ctype: str, status: int, reason: str, message: str) -> web.Response:
        metrics.requests_rejected.labels(reason).inc()
        rlog.log(logging.WARNING, reason, "OTLP metrics refused (%d): %s", status, message)
        code = _UNAVAILABLE if status == 503 else _INVALID_ARGUMENT
        headers = {"Retry-After": "5"} if status == 503 else None
        if ctype == JSON:
            return web.json_response({"code": code, "message": message}, status=status,
                                     headers=headers)  # fmt: skip
        return web.Response(body=status_proto(code, message), status=status, content_type=PROTOBUF,
                            headers=headers)  # fmt: skip

    async def handle(request: web.Request) -> web.Response:
        ctype = request.content_type
        if ctype not in (PROTOBUF, JSON):
            return refuse(ctype, 415, "content_type", f"Content-Type must be {PROTOBUF} or {JSON}")
        if saturated():
            return refuse(ctype, 503, "overloaded", "agent spool nearly full; retry later")
        if (request.content_length or 0) > max_body:
            return refuse(ctype, 413, "too_large", f"body over {max_body} bytes")
        try:
            body = await request.read()  # aiohttp inflates gzip and caps the inflated size
        except web.HTTPRequestEntityTooLarge:
            return refuse(ctype, 413, "too_large", f"body over {max_body} bytes")
        try:
            groups = list(request_samples(parse_request(body, ctype == JSON), state))
        except DecodeError as exc:
            return refuse(ctype, 400, "malformed", str(exc))
        for group in groups:
            if group[1]:
                publish(group)
        if ctype == JSON:
            return web.json_response({})
        return web.Response(body=ExportMetricsServiceResponse().SerializeToString(),
                            content_type=PROTOBUF)  # fmt: skip

    app.router.add_post("/v1/metrics", handle)
