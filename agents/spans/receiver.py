"""The agent's OTLP/HTTP receiver: ``POST /v1/traces`` and ``POST /v1/metrics`` (pushed
metrics, ``agents.otlp_metrics``), protobuf or JSON, gzip or not.

Per the OTLP spec: 200 with an ExportTraceServiceResponse (partial success when spans were
refused by the rate limit), 400 with a Status for a malformed body, 413 for an oversized
one, 415 for another content type, 503 with Retry-After while the spool is nearly full. A
bad request never takes the receiver down.

Served by the standard library's threaded HTTP server under the endpoint guard, like
/metrics: an idle receiver then costs no aiohttp (about 10 MB of RSS), and protobuf is
imported with the first protobuf request. Bodies are read and decoded in the request's
thread; the spans are handed to the intake on the event loop, which owns it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from collections.abc import Callable
from email.message import Message
from typing import TYPE_CHECKING, Any

import orjson

from agents.endpoint.policy import EndpointPolicy
from agents.endpoint.threaded import GuardedHandler, GuardedHTTPServer
from agents.otlp_status import status_proto
from agents.ratelog import RateLimitedLog
from agents.selfmetrics import AgentMetrics
from agents.spans.convert import ResourceSpans, from_otlp_json, from_otlp_proto
from agents.spans.intake import Accepted, SpanIntake
from schemas.errors import DecodeError

if TYPE_CHECKING:
    from agents.otlp_metrics.route import MetricsRoute

__all__ = ["OtlpReceiver"]

log = logging.getLogger("toka.agent.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14
_LOOP_TIMEOUT = 5.0


class _Reject(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip or deflate, refused past ``limit`` inflated bytes (a decompression bomb)."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise _Reject(415, "content_encoding", f"Content-Encoding {encoding} is not supported")
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, told apart by itself
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Reject(400, "malformed", f"not {encoding}: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _Reject(413, "too_large", f"body over {limit} bytes once inflated")
    return out


def _groups(ctype: str, body: bytes) -> list[ResourceSpans]:
    if ctype == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        try:
            req = ExportTraceServiceRequest.FromString(body)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise _Reject(400, "malformed", f"not an ExportTraceServiceRequest: {exc}") from None
        try:
            return list(from_otlp_proto(req))
        except ValueError as exc:
            raise _Reject(400, "malformed", str(exc)) from None
    try:
        return list(from_otlp_json(orjson.loads(body)))
    except orjson.JSONDecodeError as exc:
        raise _Reject(400, "malformed", f"not JSON: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Reject(400, "malformed", f"not OTLP/JSON traces: {exc!r}") from None


def _success(ctype: str, accepted: Accepted) -> bytes:
    message = "over the agent's spans-per-second limit"
    if ctype == JSON:
        out: dict[str, object] = {}
        if accepted.rejected:
            out["partialSuccess"] = {"rejectedSpans": str(accepted.rejected),
                                     "errorMessage": message}  # fmt: skip
        return orjson.dumps(out)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    resp = ExportTraceServiceResponse()
    if accepted.rejected:
        resp.partial_success.rejected_spans = accepted.rejected
        resp.partial_success.error_message = message
    return resp.SerializeToString()  # type: ignore[no-any-return]


class OtlpReceiver:
    """``saturated``: true while the publisher cannot take more (spool nearly full); the
    receiver then answers 503 with Retry-After, which OTLP exporters retry, rather than
    letting a span flood push metric records out of the spool."""

    def __init__(
        self,
        metrics: AgentMetrics,
        policy: EndpointPolicy,
        host: str,
        port: int,
        *,
        traces: SpanIntake | None = None,
        pushed_metrics: MetricsRoute | None = None,
        saturated: Callable[[], bool] = lambda: False,
    ) -> None:
        """``traces`` serves /v1/traces, ``pushed_metrics`` /v1/metrics (None: 404)."""
        self.host, self.port = host, port
        self._intake, self._route = traces, pushed_metrics
        self._metrics, self._policy = metrics, policy
        self._saturated = saturated
        self._rlog = RateLimitedLog(log)
        self._server: GuardedHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = GuardedHTTPServer((self.host, self.port), self._handler(), self._policy)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, name="toka-agent-otlp", daemon=True
        ).start()

    async def stop(self) -> None:
        """Stops accepting and hangs up on open requests (a slow upload included) at once."""
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()

    def _on_loop(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` on the event loop thread (the intake, the publisher and the delta
        state are the loop's), unless the publisher cannot take more."""
        assert self._loop is not None

        async def run() -> Any:
            if self._saturated():
                raise _Reject(503, "overloaded", "agent spool nearly full; retry later")
            return work()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(_LOOP_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise _Reject(503, "overloaded", "agent busy; retry later") from None

    def _traces(self, ctype: str, raw: bytes) -> bytes:
        assert self._intake is not None
        groups = _groups(ctype, raw)  # decoded here, in the request's thread
        intake = self._intake
        accepted: Accepted = self._on_loop(lambda: intake.add(groups))
        return _success(ctype, accepted)

    def _pushed_metrics(self, ctype: str, raw: bytes) -> bytes:
        route = self._route
        assert route is not None
        try:
            request = route.parse(raw, ctype == JSON)
        except DecodeError as exc:
            raise _Reject(400, "malformed", str(exc)) from None
        self._on_loop(lambda: route.apply(request))
        return route.success(ctype == JSON)

    def _answer(
        self, path: str, body: bytes, headers: Message
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """``headers``: the request's, looked up case-insensitively."""
        ctype = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        routes: dict[str, Callable[[str, bytes], bytes]] = {}
        if self._intake is not None:
            routes["/v1/traces"] = self._traces
        if self._route is not None:
            routes["/v1/metrics"] = self._pushed_metrics
        serve = routes.get(path)
        if serve is None:
            return 404, "text/plain", b"POST /v1/traces or /v1/metrics\n", {}
        try:
            if ctype not in (PROTOBUF, JSON):
                raise _Reject(415, "content_type", f"Content-Type must be {PROTOBUF} or {JSON}")
            encoding = headers.get("Content-Encoding", "").strip().lower()
            out = serve(ctype, _inflate(body, encoding, self._policy.max_body_bytes))
        except _Reject as r:
            if r.reason == "too_large":  # sizes are the endpoint guard's to count
                self._policy.refuse(r.reason)
            else:
                self._metrics.requests_rejected.labels(r.reason).inc()
            self._rlog.log(
                logging.WARNING, r.reason, "OTLP request refused (%d): %s", r.status, r.message
            )
            code = _UNAVAILABLE if r.status == 503 else _INVALID_ARGUMENT
            extra = {"Retry-After": "5"} if r.status == 503 else {}
            if ctype == JSON:
                return r.status, JSON, orjson.dumps({"code": code, "message": r.message}), extra
            return r.status, PROTOBUF, status_proto(code, r.message), extra
        return 200, ctype, out, {}

    def _handler(self) -> type[GuardedHandler]:
        answer = self._answer

        class Handler(GuardedHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection

            def serve_post(self, path: str, body: bytes) -> None:
                status, ctype, out, extra = answer(path, body, self.headers)
                self.send(status, {"Content-Type": ctype, **extra}, out)

        return Handler
