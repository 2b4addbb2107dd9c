"""The spans stage's logic for one input partition (pure: no Faust, no I/O): SpanBatch
records (``toka.spans``) or OTLP exporter messages, folded into RED windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from agents.redact import Redactor
from pipeline.runtime.windowed_runtime import Delivered, Folded, Reject
from pipeline.spans.core import SpanWindows
from pipeline.spans.otlp import decode_otlp_spans
from pipeline.windows.core import WindowStore
from schemas import SpanBatch, WindowAggregate, decode, encode
from schemas.config.pipeline import PipelineConfig
from schemas.records import Span, new_id

__all__ = ["SpanPartition", "read_otlp", "read_span_batch"]

Reader = Callable[[bytes], list[SpanBatch]]


def read_span_batch(raw: bytes) -> list[SpanBatch]:
    return [decode(raw, SpanBatch)]


def read_otlp(
    raw: bytes, redactor: Redactor | Literal["default"] | None = "default"
) -> list[SpanBatch]:
    """The Collector's spans, redacted by ``redactor`` (None: redaction turned off)."""
    return decode_otlp_spans(raw, redactor=redactor)


class SpanPartition:
    def __init__(self, pc: PipelineConfig, read: Reader) -> None:
        self.windows = SpanWindows(WindowStore.from_config(pc))
        self.grace = pc.grace_seconds
        self.max_skew = pc.max_clock_skew_seconds
        self._read = read

    def fold(self, record: Delivered, now: float) -> Folded:
        batches = self._read(record.value)
        store = self.windows.store
        future = store.stats["future"]
        newest = float("-inf")
        rejects = []
        for batch in batches:
            late: list[Span] = self.windows.add(batch, now)
            newest = max(newest, max((sp.end_ns for sp in batch.spans), default=0) / 1e9)
            if late:
                late_batch = SpanBatch(
                    id=new_id(), host=batch.host, spans=late, resource=batch.resource
                )
                err = f"{len(late)} span(s) older than the grace period of record {batch.id}"
                rejects.append(Reject("late", err, encode(late_batch), len(late)))
        # each span is 3 samples; a future span's are all future
        dropped = {"future": (store.stats["future"] - future) // 3}
        return Folded(min(newest, now + self.max_skew), rejects, dropped)

    def close_due(self, now: float) -> list[WindowAggregate]:
        return self.windows.close_due(now)

    def closed_through(self, now: float) -> float:
        return self.windows.store.watermark - self.grace

    def snapshot(self) -> dict[str, Any]:
        return {"store": self.windows.store.snapshot()}
