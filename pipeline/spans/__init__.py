"""Spans stage: SpanBatch (and OTLP spans) -> RED metrics per service and operation."""

from pipeline.spans.core import RED_METRICS, SpanWindows, span_samples

__all__ = ["RED_METRICS", "SpanWindows", "span_samples"]
