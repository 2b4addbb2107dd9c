"""What happens to spans between arriving and the publisher: head sampling, the spans/s
limit, redaction, then batching by service into SpanBatch records (flushed on size or age).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agents.batch import span_records
from agents.limits import TokenBucket
from agents.publish.publisher import OutRecord
from agents.redact import Redactor
from agents.selfmetrics import AgentMetrics
from agents.spans.convert import ResourceSpans
from agents.spans.sampling import TraceSampler
from schemas.records import Span, SpanBatch, new_id

__all__ = ["Accepted", "SpanIntake"]


@dataclass(slots=True)
class _Pending:
    resource: dict[str, str]
    spans: list[Span] = field(default_factory=list)
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class Accepted:
    received: int
    sampled_out: int
    rejected: int  # over the spans/s limit: the client is told (OTLP partial success)


class SpanIntake:
    """Not thread-safe: one event loop owns it. ``emit`` receives each finished record."""

    def __init__(
        self,
        *,
        host: str,
        topic: str,
        emit: Callable[[OutRecord], None],
        metrics: AgentMetrics,
        sampler: TraceSampler,
        limiter: TokenBucket | None = None,
        redactor: Redactor | None = None,
        max_spans: int = 512,
        max_age: float = 1.0,
        max_record_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host, self._topic, self._emit, self._m = host, topic, emit, metrics
        self._sampler, self._limiter, self._redactor = sampler, limiter, redactor
        self._max_spans, self._max_age, self._clock = max_spans, max_age, clock
        self._max_bytes = max_record_bytes
        self._pending: dict[tuple[tuple[str, str], ...], _Pending] = {}

    def add(self, groups: Iterable[ResourceSpans]) -> Accepted:
        received = sampled_out = rejected = 0
        for raw_resource, spans in groups:
            resource = raw_resource
            received += len(spans)
            kept = [s for s in spans if self._sampler.keep_hex(s.trace_id)]
            sampled_out += len(spans) - len(kept)
            if self._limiter is not None and kept:
                granted = self._limiter.take(len(kept))
                rejected += len(kept) - granted
                kept = kept[:granted]
            if not kept:
                continue
            if self._redactor is not None:
                kept = self._redactor.spans(kept)
                resource = self._redactor.resource(raw_resource)
            self._append(resource, kept)
        self._m.spans_received.inc(received)
        if sampled_out:
            self._m.spans_sampled_out.inc(sampled_out)
        if rejected:
            self._m.spans_dropped.labels("max_spans_per_second").inc(rejected)
        return Accepted(received, sampled_out, rejected)

    def _append(self, resource: dict[str, str], spans: list[Span]) -> None:
        key = tuple(sorted(resource.items()))
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending(resource, [], self._clock())
        p.spans += spans
        while len(p.spans) >= self._max_spans:
            chunk, p.spans = p.spans[: self._max_spans], p.spans[self._max_spans :]
            self._publish(p.resource, chunk)
        if not p.spans:
            del self._pending[key]

    def flush_due(self) -> None:
        """Publish batches older than ``max_age``; call periodically."""
        now = self._clock()
        for key, p in list(self._pending.items()):
            if now - p.since >= self._max_age:
                del self._pending[key]
                self._publish(p.resource, p.spans)

    def flush_all(self) -> None:
        for p in self._pending.values():
            self._publish(p.resource, p.spans)
        self._pending.clear()

    def _publish(self, resource: dict[str, str], spans: list[Span]) -> None:
        batch = SpanBatch(
            id=new_id(), host=self._host, spans=spans, resource=resource,
            sample_rate=self._sampler.rate,
        )  # fmt: skip
        records = span_records(self._topic, batch, self._max_bytes)
        for rec in records:
            self._emit(rec)
        self._m.collected.labels("spans").inc(len(records))
