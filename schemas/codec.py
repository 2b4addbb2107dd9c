"""Encode and decode records with orjson; msgspec checks types and names the bad path.

``decode`` first tries msgspec's typed JSON decoder (about twice as fast: no dicts in
between). Only when that raises, or when its result could differ from what orjson +
``msgspec.convert`` gives, does it decode again the old way, which alone decides the
error reason and path. Differences guarded against: a missing ``schema`` tag (a typed
decoder would not ask for it), bytes that are not UTF-8 in a field the record does not
have (msgspec skips them unread), integers outside orjson's 64-bit range (msgspec keeps
them exact; orjson reads a float, which an ``int`` field refuses). Left as is: a number
beyond double range in a field the record does not have is skipped here, where orjson
refused the whole record (not_json). Tests: tests/schemas/test_codec_fast.py.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, Union

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
from schemas.finite import finite
from schemas.profiles import (
    ProfileChunk,
    ProfileCommand,
    ProfileFinding,
    ProfileReport,
    ProfileStatus,
)
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
#: expect -> typed decoder (or _NO_FAST: types outside the registry take the old path).
_DECODERS: dict[Any, Any] = {}
_NO_FAST = object()
#: orjson reads integers in this range as int, others as float.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
#: struct type -> its fields that can hold an int (int or Any somewhere in their type).
_WIDE: dict[type, tuple[str, ...]] = {}


def register(record_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """Add a record type to the registry; refuses a schema name seen before."""
    name = schema_name(record_type)
    if name in RECORD_TYPES:
        raise ValueError(f"schema {name} is already registered")
    RECORD_TYPES[name] = record_type
    _DECODERS.clear()  # the tagged union of every record type changed
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

for _p in (ProfileCommand, ProfileStatus, ProfileReport, ProfileChunk, ProfileFinding):
    register(_p)


_ENCODER = msgspec.json.Encoder()


def encode(record: msgspec.Struct) -> bytes:
    """The record's JSON; a value beyond double range saturates (schemas/finite.py), so the
    record always matches its JSON Schema. Raises NonFiniteError for a required NaN."""
    # msgspec writes the Struct directly: half the cost of to_builtins + orjson.dumps, once
    # per aggregate. Same JSON but exponents: 1e16, not 1e+16.
    out = _ENCODER.encode(record)
    # NaN and infinities come out as null; fields left at None are omitted (omit_defaults),
    # so a null is rare and this scan of the bytes (C speed) is all most records pay.
    if b"null" in out:
        fixed = finite(record)
        if fixed is not record:
            out = _ENCODER.encode(fixed)
    return out


def decode(data: bytes | str, expect: type[T] | None = None) -> T | Any:
    """Decode one record. With ``expect``, any other schema is an ``unknown_schema`` error."""
    dec = _DECODERS.get(expect)
    if dec is None:
        dec = _decoder(expect)
    if dec is not _NO_FAST and type(data) in (bytes, str):
        try:
            out = dec.decode(data)
            same = (data.isascii() or _is_utf8(data)) and (
                type(out) not in _WIDE or not _may_hold_wide_int(data) or _ints_ok(out)
            )
        except Exception:  # msgspec's errors, UnicodeDecodeError, RecursionError: see below
            same = False
        if same:
            return out
    return _decode_slow(data, expect)


def _decode_slow(data: bytes | str, expect: type[T] | None) -> T | Any:
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


class _NoTag(msgspec.Struct, tag_field="schema", tag="\x00"):
    """Never in a record: in a union with the expected type it makes the tag required."""


def _decoder(expect: type[msgspec.Struct] | None) -> Any:
    if expect is None:
        dec: Any = msgspec.json.Decoder(Union[tuple(RECORD_TYPES.values())])  # noqa: UP007
    elif expect in RECORD_TYPES.values():
        dec = msgspec.json.Decoder(Union[expect, _NoTag])  # noqa: UP007
    else:
        dec = _NO_FAST
    for t in RECORD_TYPES.values():
        _wide_fields(msgspec.inspect.type_info(t))
    _DECODERS[expect] = dec
    return dec


def _wide_fields(t: msgspec.inspect.Type) -> bool:
    """Whether values of ``t`` can hold an int; fills _WIDE for the struct types in it."""
    mi = msgspec.inspect
    if isinstance(t, mi.IntType | mi.AnyType):
        return True
    if isinstance(t, mi.StructType):
        if t.cls not in _WIDE:
            _WIDE[t.cls] = ()  # a recursive type: treated as wide while computed
            _WIDE[t.cls] = tuple(f.name for f in t.fields if _wide_fields(f.type))
            if not _WIDE[t.cls]:
                del _WIDE[t.cls]
                return False
        return t.cls in _WIDE
    subs = [getattr(t, a) for a in ("item_type", "key_type", "value_type") if hasattr(t, a)]
    subs += list(getattr(t, "item_types", ())) + list(getattr(t, "types", ()))
    return any([_wide_fields(x) for x in subs])  # a list: every struct gets visited


_DIGITS_19 = re.compile(rb"[0-9]{19}")
_DIGITS_19_STR = re.compile(r"[0-9]{19}")


def _may_hold_wide_int(data: bytes | str) -> bool:
    # An int beyond 64 bits has 19+ digits in a row; a C scan of the text is far cheaper
    # than walking every value of a large record (an AggregateBatch) in Python.
    if isinstance(data, bytes):
        return _DIGITS_19.search(data) is not None
    return _DIGITS_19_STR.search(data) is not None


def _ints_ok(v: Any) -> bool:
    """No int outside orjson's range (where orjson + convert would read or refuse a float)."""
    if type(v) is int:
        return _INT_MIN <= v <= _INT_MAX
    fields = _WIDE.get(type(v))
    if fields is not None:
        return all(_ints_ok(getattr(v, f)) for f in fields)
    if type(v) is list or type(v) is tuple:
        return all(map(_ints_ok, v))
    if type(v) is dict:
        return all(map(_ints_ok, v.values()))
    return True


def _is_utf8(data: bytes | str) -> bool:
    # orjson refuses any byte string that is not UTF-8, also in fields msgspec skips.
    if isinstance(data, str):
        return False  # a non-ASCII str (lone surrogates?): the old path decides
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


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
