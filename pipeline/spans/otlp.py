"""Read the OpenTelemetry Collector Kafka exporter's spans (``otlp_spans`` topic).

The exporter writes one ExportTraceServiceRequest per message, as ``otlp_proto`` (its
default) or ``otlp_json``. Each ResourceSpans becomes one SpanBatch (host from
``host.name``, service from ``service.name``), so existing collectors feed the RED
windows unchanged. OTLP/JSON carries trace and span ids as hex and 64-bit times as
strings (the OTLP spec's JSON mapping), which protobuf's own JSON parser would reject.

Spans from a Collector never passed through a Toka agent, so they are redacted here, in
the decoding itself (span names, attributes, resource attributes): whatever consumes the
decoded batches, dead letters included, sees only redacted values.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import orjson

from agents.redact import Redactor, default_redactor
from schemas.errors import DecodeError
from schemas.records import Span, SpanBatch, new_id

__all__ = ["decode_otlp_spans"]

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def decode_otlp_spans(
    data: bytes,
    encoding: str = "auto",
    redactor: Redactor | Literal["default"] | None = "default",
) -> list[SpanBatch]:
    """SpanBatches of one exporter message; ``auto`` tells JSON from protobuf by its first byte.

    ``redactor``: the configured one (``Redactor.from_config(cfg.agent.redaction)``), the
    default rules, or None only when redaction is turned off in the configuration.
    """
    groups = _decode(data, encoding)
    active = _shared_default() if redactor == "default" else redactor
    return [_batch(resource, spans, active) for resource, spans in groups]


@cache
def _shared_default() -> Redactor:
    return default_redactor()


_Groups = list[tuple[dict[str, Any], list[Span]]]


def _decode(data: bytes, encoding: str) -> _Groups:
    if encoding == "auto":
        if data.lstrip()[:1] != b"{":
            return _from_proto(data)
        try:
            return _from_json(data)
        except DecodeError:
            # A protobuf message can also start with whitespace and "{" (field 1, length
            # 123); the exporter's default encoding wins when it is not JSON.
            if data[:1] != b"\n":
                raise
            return _from_proto(data)
    if encoding == "otlp_json":
        return _from_json(data)
    if encoding == "otlp_proto":
        return _from_proto(data)
    raise ValueError(f"unknown OTLP encoding {encoding!r} (otlp_proto, otlp_json, auto)")


def _from_proto(data: bytes) -> _Groups:
    from google.protobuf.message import DecodeError as ProtoError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except ProtoError as exc:
        raise DecodeError("invalid", f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    out: _Groups = []
    for rs in req.resource_spans:
        resource = {a.key: _proto_value(a.value) for a in rs.resource.attributes}
        spans = [
            Span(
                trace_id=sp.trace_id.hex(),
                span_id=sp.span_id.hex(),
                parent_span_id=sp.parent_span_id.hex() or None,
                name=sp.name,
                kind=_KINDS.get(sp.kind, "unspecified"),
                start_ns=sp.start_time_unix_nano,
                end_ns=sp.end_time_unix_nano,
                status=_STATUS.get(sp.status.code, "unset"),  # type: ignore[arg-type]
                attributes={a.key: _proto_value(a.value) for a in sp.attributes},
            )
            for ss in rs.scope_spans
            for sp in ss.spans
        ]
        out.append((resource, spans))
    return out


def _proto_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_proto_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _proto_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _from_json(data: bytes) -> _Groups:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise DecodeError("wrong_type", "expected an OTLP JSON object")
    try:
        return _json_batches(doc)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # A value of the wrong shape somewhere (a string where an object belongs, ...).
        raise DecodeError("wrong_type", f"malformed OTLP JSON: {exc!r}") from None


def _json_batches(doc: dict[str, Any]) -> _Groups:
    out: _Groups = []
    for i, rs in enumerate(_list(doc, "resourceSpans", "$")):
        where = f"$.resourceSpans[{i}]"
        resource = _json_attrs((rs.get("resource") or {}).get("attributes"))
        spans = []
        for j, ss in enumerate(_list(rs, "scopeSpans", where)):
            for k, sp in enumerate(_list(ss, "spans", f"{where}.scopeSpans[{j}]")):
                spans.append(_json_span(sp, f"{where}.scopeSpans[{j}].spans[{k}]"))
        out.append((resource, spans))
    return out


def _json_span(sp: dict[str, Any], where: str) -> Span:
    try:
        kind = sp.get("kind", 0)
        code = (sp.get("status") or {}).get("code", 0)
        return Span(
            trace_id=str(sp["traceId"]).lower(),
            span_id=str(sp["spanId"]).lower(),
            parent_span_id=str(sp.get("parentSpanId") or "").lower() or None,
            name=str(sp.get("name", "")),
            kind=_enum(kind, _KINDS, "SPAN_KIND_"),
            start_ns=int(sp["startTimeUnixNano"]),
            end_ns=int(sp["endTimeUnixNano"]),
            status=_enum(code, _STATUS, "STATUS_CODE_"),  # type: ignore[arg-type]
            attributes=_json_attrs(sp.get("attributes")),
        )
    except KeyError as exc:
        raise DecodeError("missing_field", f"span without {exc.args[0]}", where) from None
    except (TypeError, ValueError) as exc:
        raise DecodeError("wrong_type", str(exc), where) from None


def _enum(value: Any, names: dict[int, str], prefix: str) -> str:
    # OTLP/JSON says integers; some emitters write the enum's name instead.
    if isinstance(value, str) and not value.isdigit():
        return value.removeprefix(prefix).lower()
    return names.get(int(value), "unset")


def _list(obj: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise DecodeError("wrong_type", f"expected a list, got {type(value).__name__}", where)
    return value


def _json_attrs(attrs: Any) -> dict[str, Any]:
    return {a["key"]: _json_value(a.get("value") or {}) for a in attrs or ()}


def _json_value(v: dict[str, Any]) -> Any:
    for key, val in v.items():
        if key == "intValue":
            return int(val)  # 64-bit ints are strings in OTLP/JSON
        if key == "arrayValue":
            return [_json_value(x) for x in val.get("values", [])]
        if key == "kvlistValue":
            return _json_attrs(val.get("values"))
        return val
    return None


def _batch(resource: dict[str, Any], spans: list[Span], redactor: Redactor | None) -> SpanBatch:
    res = {k: str(v) for k, v in resource.items() if isinstance(v, str | int | float | bool)}
    if redactor is not None:
        res, spans = redactor.resource(res), redactor.spans(spans)
    host = res.get("host.name") or res.get("k8s.pod.name") or res.get("service.instance.id", "")
    return SpanBatch(id=new_id(), host=host, spans=spans, resource=res)
