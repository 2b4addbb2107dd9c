"""Fuzzed MetricBatch and SpanBatch bytes: decode gives a record or a DecodeError with a
known reason, nothing else; a record it accepts encodes and decodes to itself."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given

from schemas import DecodeError, MetricBatch, Sample, Span, SpanBatch, decode, encode
from tests.support.fuzz import FUZZ, json_documents

pytestmark = pytest.mark.fuzz

REASONS = {"not_json", "unknown_schema", "missing_field", "wrong_type", "invalid"}

METRICS = orjson.loads(encode(MetricBatch(
    id="m1", host="web-1", source="system", ts=1_700_000_000.5, interval=10.0,
    samples=[
        Sample(name="system_cpu_percent", value=12.5),
        Sample(name="requests_total", value=7.0, type="counter", labels={"code": "200"}),
        Sample(name="latency_seconds", value=3.0, type="histogram",
               buckets=[(0.1, 1.0), (1.0, 3.0)], sum=1.2, ts=1_700_000_000.0),
    ],
    resource={"env": "prod"},
)))  # fmt: skip

SPANS = orjson.loads(encode(SpanBatch(
    id="s1", host="web-1", resource={"service.name": "checkout"},
    spans=[Span(trace_id="ab" * 16, span_id="cd" * 8, name="GET /cart", start_ns=1,
                end_ns=2_000_000, parent_span_id="ef" * 8, kind="server", status="error",
                attributes={"http.status_code": 500, "retry": True})],
)))  # fmt: skip


def _decodes_or_refuses(data: bytes, expect: type) -> None:
    try:
        record = decode(data, expect)
    except DecodeError as exc:
        assert exc.reason in REASONS, exc
        return
    assert isinstance(record, expect)
    assert decode(encode(record), expect) == record


@FUZZ
@given(json_documents(METRICS))
def test_fuzzed_metric_batches_decode_or_are_refused_with_a_reason(data: bytes) -> None:
    _decodes_or_refuses(data, MetricBatch)


@FUZZ
@given(json_documents(SPANS))
def test_fuzzed_span_batches_decode_or_are_refused_with_a_reason(data: bytes) -> None:
    _decodes_or_refuses(data, SpanBatch)
