"""Spans in: an OTel SDK SpanExporter and an OTLP/HTTP receiver, both ending as SpanBatch."""

__all__: list[str] = []
