"""Event schema v1: records, codec and JSON Schema files (schemas/json/)."""

from schemas.codec import RECORD_TYPES, decode, encode, schema_name
from schemas.errors import ConfigError, DecodeError, TokaError
from schemas.records import (
    ZERO_TIME,
    AggregateBatch,
    Alert,
    DeadLetter,
    MetricBatch,
    Sample,
    Span,
    SpanBatch,
    WindowAggregate,
    new_id,
)

__all__ = [
    "RECORD_TYPES",
    "ZERO_TIME",
    "AggregateBatch",
    "Alert",
    "ConfigError",
    "DeadLetter",
    "DecodeError",
    "MetricBatch",
    "Sample",
    "Span",
    "SpanBatch",
    "TokaError",
    "WindowAggregate",
    "decode",
    "encode",
    "new_id",
    "schema_name",
]
