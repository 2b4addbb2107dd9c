"""OTLP spans as the OpenTelemetry Collector's Kafka exporter writes them."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from pipeline.spans.otlp import decode_otlp_spans
from schemas.errors import DecodeError

T0 = 1_700_000_000_000_000_000


def otlp_proto(service: str = "cart", host: str = "node-1") -> bytes:
    def kv(k: str, v: str) -> KeyValue:
        return KeyValue(key=k, value=AnyValue(string_value=v))

    spans = [
        Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="GET /cart", kind=2,
             start_time_unix_nano=T0, end_time_unix_nano=T0 + 250_000_000,
             status=Status(code=2),
             attributes=[KeyValue(key="http.status", value=AnyValue(int_value=500))]),
        Span(trace_id=bytes(range(16)), span_id=bytes(range(1, 9)), parent_span_id=bytes(range(8)),
             name="SELECT", kind=3, start_time_unix_nano=T0, end_time_unix_nano=T0 + 10_000_000),
    ]  # fmt: skip
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": [kv("service.name", service), kv("host.name", host)]},
        scope_spans=[ScopeSpans(spans=spans)],
    )])  # fmt: skip
    return req.SerializeToString()


def otlp_json(service: str = "cart", host: str = "node-1") -> bytes:
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "host.name", "value": {"stringValue": host}},
        ]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [
            {"traceId": "000102030405060708090A0B0C0D0E0F", "spanId": "0001020304050607",
             "parentSpanId": "", "name": "GET /cart", "kind": 2,
             "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 250_000_000),
             "status": {"code": 2},
             "attributes": [{"key": "http.status", "value": {"intValue": "500"}}]},
            {"traceId": "000102030405060708090a0b0c0d0e0f", "spanId": "0102030405060708",
             "parentSpanId": "0001020304050607", "name": "SELECT", "kind": "SPAN_KIND_CLIENT",
             "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 10_000_000)},
        ]}],
    }]})  # fmt: skip


@pytest.mark.parametrize("make", [otlp_proto, otlp_json])
@pytest.mark.parametrize("encoding", ["auto", "explicit"])
def test_proto_and_json_decode_to_the_same_spans(make, encoding) -> None:
    enc = "auto" if encoding == "auto" else make.__name__
    (b,) = decode_otlp_spans(make(), enc)
    assert b.host == "node-1" and b.resource["service.name"] == "cart"
    s1, s2 = b.spans
    assert s1.trace_id == "000102030405060708090a0b0c0d0e0f" and s1.span_id == "0001020304050607"
    assert (s1.name, s1.kind, s1.status, s1.parent_span_id) == (
        "GET /cart",
        "server",
        "error",
        None,
    )
    assert s1.end_ns - s1.start_ns == 250_000_000 and s1.attributes == {"http.status": 500}
    assert (s2.kind, s2.status, s2.parent_span_id) == ("client", "unset", "0001020304050607")


@pytest.mark.parametrize(("data", "enc", "reason"), [
    (b"{not json", "otlp_json", "not_json"),
    (b'{"resourceSpans": 3}', "otlp_json", "wrong_type"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}', "otlp_json",
     "missing_field"),
    (b"\xff\xff\xff\xff", "otlp_proto", "invalid"),
])  # fmt: skip
def test_bad_messages_raise_decode_errors(data, enc, reason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_otlp_spans(data, enc)
    assert err.value.reason == reason


@pytest.mark.parametrize("make", [otlp_proto, otlp_json])
def test_collector_spans_are_redacted_when_decoded(make) -> None:
    """The otlp_spans input never passed an agent: decoding applies the default rules to
    the resource, span names and attributes, so nothing downstream (dead letters included)
    sees the secret."""
    data = make(service="cart --password=hunter2", host="ann@example.com")
    data = data.replace(b"GET /cart", b"?token=h2")  # same length: protobuf stays valid
    (b,) = decode_otlp_spans(data, "auto")
    assert b"hunter2" not in orjson.dumps(b.resource) and "example.com" not in b.host
    assert b.resource["service.name"] == "cart --password=***"
    assert b.spans[0].name == "?token=***"
    (raw,) = decode_otlp_spans(data, "auto", redactor=None)  # redaction turned off
    assert raw.resource["service.name"] == "cart --password=hunter2"
