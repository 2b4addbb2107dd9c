"""OTLP traces (protobuf message or OTLP/JSON dict) and SDK spans -> our Span records. Pure.

Trace and span ids become lower-case hex, as in W3C traceparent and OTLP/JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from schemas.records import Span

__all__ = ["ResourceSpans", "from_otlp_json", "from_otlp_proto", "from_sdk_spans"]

ResourceSpans = tuple[dict[str, str], list[Span]]

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")
_MAX_ATTR_DEPTH = 4


# -- protobuf --------------------------------------------------------------------------------


def _any_proto(v: Any, depth: int = 0) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        if depth >= _MAX_ATTR_DEPTH:
            return None
        return [_any_proto(x, depth + 1) for x in v.array_value.values]
    if which == "kvlist_value":
        if depth >= _MAX_ATTR_DEPTH:
            return None
        return {kv.key: _any_proto(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _attrs_proto(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_proto(kv.value) for kv in kvs}


def from_otlp_proto(req: Any) -> Iterator[ResourceSpans]:
    """From an ``ExportTraceServiceRequest``. Raises ValueError on invalid ids."""
    for rs in req.resource_spans:
        resource = {k: _str(v) for k, v in _attrs_proto(rs.resource.attributes).items()}
        spans: list[Span] = []
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8:
                    raise ValueError("trace_id must be 16 bytes and span_id 8 bytes")
                status = s.status.code
                spans.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        kind=KINDS[s.kind] if 0 <= s.kind < len(KINDS) else "unspecified",
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        status=STATUSES[status] if 0 <= status < 3 else "unset",  # type: ignore[arg-type]
                        attributes=_attrs_proto(s.attributes) if s.attributes else {},
                    )
                )
        yield resource, spans


# -- OTLP/JSON ------------------------------------------------------------------------------


def _any_json(v: dict[str, Any], depth: int = 0) -> Any:
    for key, val in v.items():
        if key in {"stringValue", "boolValue", "doubleValue"}:
            return val
        if key == "intValue":
            return int(val)  # int64 is a string in OTLP/JSON
        if key == "bytesValue":
            import base64

            return base64.b64decode(val).hex()
        if depth >= _MAX_ATTR_DEPTH:
            return None
        if key == "arrayValue":
            return [_any_json(x, depth + 1) for x in val.get("values", ())]
        if key == "kvlistValue":
            return _attrs_json(val.get("values", ()), depth + 1)
    return None


def _attrs_json(kvs: list[dict[str, Any]], depth: int = 0) -> dict[str, Any]:
    out = {}
    for kv in kvs:
        key = kv["key"]
        if not isinstance(key, str):
            raise ValueError(f"attribute keys must be strings, got {key!r}")
        out[key] = _any_json(kv.get("value") or {}, depth)
    return out


def _enum(value: Any, names: tuple[str, ...], prefix: str) -> str:
    if isinstance(value, str):
        name = value.removeprefix(prefix).lower()
        return name if name in names else names[0]
    return names[value] if isinstance(value, int) and 0 <= value < len(names) else names[0]


def _checked(**fields: Any) -> Span:
    """A Span whose fields have the record's types (a JSON body can put anything anywhere:
    a number as a name, null as an attribute key). Struct constructors do not check types,
    and a span that cannot be encoded would fail its whole batch later, far from here."""
    try:
        return _SPAN.decode(msgspec.json.encode(fields))
    except (msgspec.ValidationError, msgspec.EncodeError, TypeError, OverflowError) as exc:
        raise ValueError(f"invalid span: {exc}") from None


_SPAN = msgspec.json.Decoder(Span)


def from_otlp_json(doc: dict[str, Any]) -> Iterator[ResourceSpans]:
    """From an OTLP/JSON body. Raises KeyError/TypeError/ValueError on a malformed one."""
    for rs in doc.get("resourceSpans", ()):
        res = rs.get("resource") or {}
        resource = {k: _str(v) for k, v in _attrs_json(res.get("attributes", ())).items()}
        spans: list[Span] = []
        for ss in rs.get("scopeSpans", ()):
            for s in ss.get("spans", ()):
                trace_id, span_id = s["traceId"].lower(), s["spanId"].lower()
                if len(trace_id) != 32 or len(span_id) != 16:
                    raise ValueError("traceId must be 32 and spanId 16 hex digits")
                int(trace_id, 16), int(span_id, 16)  # noqa: B018 - validates hex
                spans.append(
                    _checked(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=(s.get("parentSpanId") or "").lower() or None,
                        name=s.get("name", ""),
                        kind=_enum(s.get("kind", 0), KINDS, "SPAN_KIND_"),
                        start_ns=int(s.get("startTimeUnixNano", 0)),
                        end_ns=int(s.get("endTimeUnixNano", 0)),
                        status=_enum(
                            (s.get("status") or {}).get("code", 0), STATUSES, "STATUS_CODE_"
                        ),  # type: ignore[arg-type]
                        attributes=_attrs_json(s.get("attributes", ())),
                    )
                )
        yield resource, spans


# -- OTel SDK -------------------------------------------------------------------------------


def from_sdk_spans(spans: Any) -> Iterator[ResourceSpans]:
    """From SDK ``ReadableSpan`` objects, grouped by resource."""
    groups: dict[int, ResourceSpans] = {}
    for s in spans:
        key = id(s.resource)
        if key not in groups:
            groups[key] = ({k: _str(v) for k, v in s.resource.attributes.items()}, [])
        ctx, parent = s.context, s.parent
        groups[key][1].append(
            Span(
                trace_id=f"{ctx.trace_id:032x}",
                span_id=f"{ctx.span_id:016x}",
                parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
                name=s.name,
                kind=s.kind.name.lower(),
                start_ns=s.start_time or 0,
                end_ns=s.end_time or 0,
                status=s.status.status_code.name.lower(),
                attributes={
                    k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in (s.attributes or {}).items()
                },
            )
        )
    yield from groups.values()


def _str(v: Any) -> str:
    return v if isinstance(v, str) else str(v)
