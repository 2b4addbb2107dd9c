"""Encode and decode records with orjson; msgspec checks types and names the bad path."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import orjson

from schemas.analytics import (
    Anomaly,
    BaselineCommand,
    BenchmarkResult,
    CapacityForecast,
    Regression,
)
from schemas.errors import DecodeError
from schemas.records import (
    AggregateBatch,
    Alert,
    DeadLetter,
    MetricBatch,
    SpanBatch,
    WindowAggregate,
)

__all__ = ["RECORD_TYPES", "decode", "encode", "schema_name"]

T = TypeVar("T", bound=msgspec.Struct)

#: schema name -> record type, for every record kind that has a JSON Schema file.
RECORD_TYPES: dict[str, type[msgspec.Struct]] = {}


def register(record_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """Add a record type to the registry; refuses a schema name seen before."""
    name = schema_name(record_type)
    if name in RECORD_TYPES:
        raise ValueError(f"schema {name} is already registered")
    RECORD_TYPES[name] = record_type
    return record_type


def schema_name(record_type: type[msgspec.Struct]) -> str:
    tag = record_type.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{record_type.__name__} has no schema tag")
    return tag


for _t in (MetricBatch, SpanBatch, WindowAggregate, AggregateBatch, Alert, DeadLetter):
    register(_t)

for _a in (Regression, Anomaly, CapacityForecast, BenchmarkResult, BaselineCommand):
    register(_a)


def encode(record: msgspec.Struct) -> bytes:
    return orjson.dumps(msgspec.to_builtins(record))


def decode(data: bytes | str, expect: type[T] | None = None) -> T | Any:
    """Decode one record. With ``expect``, any other schema is an ``unknown_schema`` error."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise DecodeError("wrong_type", f"expected a JSON object, got {type(obj).__name__}")
    name = obj.get("schema")
    record_type = RECORD_TYPES.get(name) if isinstance(name, str) else None
    if record_type is None or (expect is not None and record_type is not expect):
        wanted = schema_name(expect) if expect is not None else "one of " + ", ".join(RECORD_TYPES)
        raise DecodeError("unknown_schema", f"got {name!r}, expected {wanted}", "$.schema")
    try:
        return msgspec.convert(obj, record_type)
    except msgspec.ValidationError as exc:
        raise _decode_error(str(exc)) from None


_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


def _decode_error(message: str) -> DecodeError:
    m = _AT_PATH.match(message)
    msg, path = (m.group("msg"), m.group("path") or "$") if m else (message, "$")
    if msg.startswith("Object missing required field"):
        field = msg.split("`")[1] if "`" in msg else "?"
        return DecodeError("missing_field", msg, f"{path}.{field}")
    if msg.startswith("Expected `"):
        return DecodeError("wrong_type", msg, path)
    return DecodeError("invalid", msg, path)
