"""Span builders for spans tests."""

from __future__ import annotations

from schemas.records import Span, SpanBatch, new_id


def span(name: str, start: float, dur: float, error: bool = False) -> Span:
    s_ns = int(start * 1e9)
    return Span(
        trace_id=new_id(), span_id=new_id()[:16], name=name, start_ns=s_ns,
        end_ns=s_ns + int(dur * 1e9), status="error" if error else "ok", kind="server",
    )  # fmt: skip


def span_batch(service: str, spans: list[Span], host: str = "h1") -> SpanBatch:
    return SpanBatch(id=new_id(), host=host, spans=spans, resource={"service.name": service})
