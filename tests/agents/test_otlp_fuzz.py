"""Fuzzed OTLP/HTTP trace bodies (JSON and protobuf) into the agent's converters: spans that
come out are valid records the pipeline will decode, and everything else is one of the
errors the receiver answers with 400, never a crash or a record the pipeline refuses."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.spans.convert import from_otlp_json, from_otlp_proto
from schemas import SpanBatch, decode, encode
from tests.support.fuzz import FUZZ, mutated

pytestmark = pytest.mark.fuzz

#: What the receiver maps to 400 (agents/spans/receiver.py).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError)

TRACES = {"resourceSpans": [{
    "resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "service.version", "value": {"stringValue": "1.4.2"}},
    ]},
    "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173", "name": "GET /cart", "kind": 2,
        "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
        "status": {"code": 2, "message": "boom"},
        "attributes": [
            {"key": "http.status_code", "value": {"intValue": "500"}},
            {"key": "retry", "value": {"boolValue": True}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
    }]}],
}]}  # fmt: skip


def _spans_are_records_the_pipeline_takes(groups: list) -> None:
    for resource, spans in groups:
        batch = SpanBatch(id="b", host="h", resource=resource, spans=spans)
        assert decode(encode(batch), SpanBatch) == batch


def test_the_seed_body_converts() -> None:
    groups = list(from_otlp_json(TRACES))
    assert len(groups[0][1]) == 1
    _spans_are_records_the_pipeline_takes(groups)


@FUZZ
@given(mutated(TRACES))
def test_fuzzed_otlp_json_converts_to_valid_spans_or_is_malformed(doc: object) -> None:
    try:
        groups = list(from_otlp_json(orjson.loads(orjson.dumps(doc, default=str))))
    except MALFORMED:
        return
    _spans_are_records_the_pipeline_takes(groups)


def _proto_seed() -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    doc = orjson.loads(orjson.dumps(TRACES))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # OTLP/JSON ids are hex; protobuf's JSON mapping wants base64 for bytes fields.
    import base64

    for key in ("traceId", "spanId", "parentSpanId"):
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


@FUZZ
@given(st.data())
def test_fuzzed_otlp_protobuf_converts_to_valid_spans_or_is_malformed(data: st.DataObject):
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    body = bytearray(_proto_seed())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[at] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        request = ExportTraceServiceRequest.FromString(bytes(body))
        groups = list(from_otlp_proto(request))
    except (DecodeError, *MALFORMED):
        return
    _spans_are_records_the_pipeline_takes(groups)
