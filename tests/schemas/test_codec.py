"""The codec: round trips, and one clear error type for every way a record can be bad."""

from __future__ import annotations

import jsonschema
import orjson
import pytest

from schemas import (
    ZERO_TIME,
    Alert,
    DeadLetter,
    DecodeError,
    MetricBatch,
    Sample,
    Span,
    SpanBatch,
    WindowAggregate,
    decode,
    encode,
    new_id,
)  # fmt: skip
from schemas.jsonschema_files import load

GOOD = MetricBatch(
    id=new_id(), host="web-1", source="system", ts=1_700_000_000.5,
    samples=[
        Sample(name="system_cpu_percent", value=12.5),
        Sample(name="requests_total", value=7.0, type="counter", labels={"code": "200"}),
        Sample(name="latency_seconds", value=3.0, type="histogram",
               buckets=[(0.1, 1.0), (1.0, 3.0)], sum=1.2),
    ],
    resource={"env": "prod"},
)  # fmt: skip


def _batch_dict(**changes: object) -> dict:
    d = orjson.loads(encode(GOOD))
    d.update(changes)
    return d


def test_round_trip_keeps_every_field() -> None:
    assert decode(encode(GOOD)) == GOOD
    assert decode(encode(GOOD), MetricBatch) == GOOD


@pytest.mark.parametrize(
    ("data", "reason", "path"),
    [
        (b"not json", "not_json", "$"),
        (b"[1, 2]", "wrong_type", "$"),
        (orjson.dumps({"schema": "toka.nope.v1"}), "unknown_schema", "$.schema"),
        (orjson.dumps({"id": "x"}), "unknown_schema", "$.schema"),
        (orjson.dumps({k: v for k, v in _batch_dict().items() if k != "host"}),
         "missing_field", "$.host"),
        (orjson.dumps(_batch_dict(ts="yesterday")), "wrong_type", "$.ts"),
        (orjson.dumps(_batch_dict(samples=[{"name": "x", "value": "high"}])),
         "wrong_type", "$.samples[0].value"),
        (orjson.dumps(_batch_dict(samples=[{"value": 1.0}])),
         "missing_field", "$.samples[0].name"),
        (orjson.dumps(_batch_dict(samples=[{"name": "x", "value": 1, "type": "summary"}])),
         "invalid", "$.samples[0].type"),
    ],
)  # fmt: skip
def test_bad_records_raise_decode_error_with_reason_and_path(
    data: bytes, reason: str, path: str
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == reason
    assert info.value.path == path
    assert path in str(info.value)


def test_expecting_one_schema_refuses_another() -> None:
    agg = WindowAggregate(
        id=new_id(), series='x{host="h"}', name="x", host="h", window_start=0, window_end=10,
        count=1, sum=1, min=1, max=1, mean=1, last=1,
    )  # fmt: skip
    with pytest.raises(DecodeError, match="unknown_schema"):
        decode(encode(agg), MetricBatch)


def _examples() -> list:
    return [
        GOOD,
        SpanBatch(id=new_id(), host="h", resource={"service.name": "api"}, spans=[
            Span(trace_id="ab" * 16, span_id="cd" * 8, name="GET /", start_ns=1, end_ns=5,
                 attributes={"http.status_code": 200})]),
        WindowAggregate(id=new_id(), series='x{host="h"}', name="x", host="h",
                        window_start=0, window_end=10, count=2, sum=3, min=1, max=2,
                        mean=1.5, last=2, p95=1.9),
        Alert(id=new_id(), status="firing", labels={"alertname": "HighCpu", "severity": "critical"},
              annotations={"summary": "cpu"}, startsAt="2026-01-01T00:00:00Z", endsAt=ZERO_TIME,
              fingerprint="f" * 16, rule="cpu", value=95.0, threshold=85.0),
        DeadLetter(id=new_id(), reason="not_json", error="bad", source_topic="toka.metrics",
                   ts=1.0, original_b64="eHg="),
    ]  # fmt: skip


@pytest.mark.parametrize("record", _examples(), ids=lambda r: type(r).__name__)
def test_every_record_validates_against_its_shipped_json_schema(record: object) -> None:
    doc = orjson.loads(encode(record))
    jsonschema.validate(doc, load(doc["schema"]))


def test_json_schema_rejects_a_bad_record() -> None:
    doc = orjson.loads(encode(GOOD))
    doc["samples"][0]["value"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load(doc["schema"]))
