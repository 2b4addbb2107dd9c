"""OTLP load: pre-encoded ExportTraceServiceRequest bodies POSTed with keep-alive.

Encoding happens once, before the clock starts, so the load generator spends its CPU on
HTTP only and the agent's CPU is what is measured.
"""

from __future__ import annotations

import asyncio
import os
import random

import aiohttp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def _kv(k: str, v: str | int) -> KeyValue:
    val = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v)
    return KeyValue(key=k, value=val)


def make_bodies(n_bodies: int, spans_per_body: int, services: int = 4) -> list[bytes]:
    """Realistic spans: 10-span traces, 6 attributes each (HTTP server/client shaped)."""
    rnd = random.Random(7)
    bodies = []
    for b in range(n_bodies):
        spans = []
        trace_id = os.urandom(16)
        parent = b""
        for i in range(spans_per_body):
            if i % 10 == 0:
                trace_id, parent = os.urandom(16), b""
            sid = os.urandom(8)
            start = 1_700_000_000_000_000_000 + i * 1000
            spans.append(
                Span(
                    trace_id=trace_id, span_id=sid, parent_span_id=parent,
                    name=f"GET /api/v1/items/{{id}}#{i % 10}", kind=2 if not parent else 3,
                    start_time_unix_nano=start, end_time_unix_nano=start + rnd.randint(1, 10**7),
                    attributes=[
                        _kv("http.method", "GET"), _kv("http.route", "/api/v1/items/{id}"),
                        _kv("http.status_code", 200), _kv("net.peer.name", "items.internal"),
                        _kv("user_agent.original", "curl/8.0"), _kv("thread.id", i),
                    ],
                )
            )  # fmt: skip
            parent = parent or sid
        res = ResourceSpans(
            resource={"attributes": [_kv("service.name", f"svc-{b % services}")]},
            scope_spans=[ScopeSpans(spans=spans)],
        )
        bodies.append(ExportTraceServiceRequest(resource_spans=[res]).SerializeToString())
    return bodies


async def _drive(url: str, bodies: list[bytes], seconds: float, concurrency: int) -> int:
    """POST bodies round-robin for ``seconds``; return how many requests got 200."""
    ok = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    headers = {"Content-Type": "application/x-protobuf"}

    async def worker(k: int) -> None:
        nonlocal ok
        i = k
        while loop.time() < end:
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                await r.read()
                ok += r.status == 200
            i += concurrency

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return ok


def drive(url: str, bodies: list[bytes], seconds: float, concurrency: int = 4) -> int:
    return asyncio.run(_drive(url, bodies, seconds, concurrency))
