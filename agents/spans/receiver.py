"""The OTLP/HTTP trace receiver: ``POST /v1/traces``, protobuf or JSON, gzip or not.

Per the OTLP spec: 200 with an ExportTraceServiceResponse (partial success when spans were
refused by the rate limit), 400 with a Status for a malformed body, 413 for an oversized
one, 415 for another content type. A bad request never takes the receiver down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from aiohttp import web

from agents.otlp_status import status_proto
from agents.ratelog import RateLimitedLog
from agents.selfmetrics import AgentMetrics
from agents.spans.convert import from_otlp_json, from_otlp_proto
from agents.spans.intake import Accepted, SpanIntake

__all__ = ["make_receiver_app"]

log = logging.getLogger("toka.agent.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14


class _Reject(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def make_receiver_app(
    intake: SpanIntake,
    metrics: AgentMetrics,
    max_body: int,
    saturated: Callable[[], bool] = lambda: False,
) -> web.Application:
    """``saturated``: true while the publisher cannot take more (spool nearly full); the
    receiver then answers 503 with Retry-After, which OTLP exporters retry, rather than
    letting a span flood push metric records out of the spool."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    rlog = RateLimitedLog(log)

    def _accept(ctype: str, body: bytes) -> Accepted:
        if ctype == PROTOBUF:
            try:
                req = ExportTraceServiceRequest.FromString(body)
            except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
                raise _Reject(
                    400, "malformed", f"not an ExportTraceServiceRequest: {exc}"
                ) from None
            try:
                groups = list(from_otlp_proto(req))
            except ValueError as exc:
                raise _Reject(400, "malformed", str(exc)) from None
        else:
            try:
                groups = list(from_otlp_json(orjson.loads(body)))
            except orjson.JSONDecodeError as exc:
                raise _Reject(400, "malformed", f"not JSON: {exc}") from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise _Reject(400, "malformed", f"not OTLP/JSON traces: {exc!r}") from None
        return intake.add(groups)

    async def traces(request: web.Request) -> web.Response:
        ctype = request.content_type
        try:
            if ctype not in (PROTOBUF, JSON):
                raise _Reject(415, "content_type", f"Content-Type must be {PROTOBUF} or {JSON}")
            if saturated():
                raise _Reject(503, "overloaded", "agent spool nearly full; retry later")
            if (request.content_length or 0) > max_body:
                raise _Reject(413, "too_large", f"body over {max_body} bytes")
            try:
                # aiohttp inflates gzip/deflate bodies itself and applies client_max_size to
                # the inflated size, which also stops a decompression bomb.
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise _Reject(413, "too_large", f"body over {max_body} bytes") from None
            accepted = _accept(ctype, raw)
        except _Reject as r:
            metrics.requests_rejected.labels(r.reason).inc()
            rlog.log(
                logging.WARNING, r.reason, "OTLP request refused (%d): %s", r.status, r.message
            )
            code = _UNAVAILABLE if r.status == 503 else _INVALID_ARGUMENT
            headers = {"Retry-After": "5"} if r.status == 503 else None
            if ctype == JSON:
                return web.json_response(
                    {"code": code, "message": r.message}, status=r.status, headers=headers
                )
            return web.Response(
                body=status_proto(code, r.message), status=r.status, content_type=PROTOBUF,
                headers=headers,
            )  # fmt: skip
        resp = ExportTraceServiceResponse()
        if accepted.rejected:
            resp.partial_success.rejected_spans = accepted.rejected
            resp.partial_success.error_message = "over the agent's spans-per-second limit"
        if ctype == JSON:
            body_out: dict[str, object] = {}
            if accepted.rejected:
                body_out["partialSuccess"] = {
                    "rejectedSpans": str(accepted.rejected),
                    "errorMessage": resp.partial_success.error_message,
                }
            return web.json_response(body_out)
        return web.Response(body=resp.SerializeToString(), content_type=PROTOBUF)

    # aiohttp enforces the size for chunked bodies too (413 via HTTPRequestEntityTooLarge).
    app = web.Application(client_max_size=max_body)
    app.router.add_post("/v1/traces", traces)
    return app
