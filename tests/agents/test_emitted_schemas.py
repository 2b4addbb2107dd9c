"""Every record the agent emits validates against the JSON Schema files outside consumers use."""

from __future__ import annotations

import orjson
from jsonschema import Draft202012Validator

from agents.batch import metric_batch, metric_records, span_records
from agents.sources.prometheus import parse_exposition
from agents.sources.system import SystemSource
from agents.spans.convert import from_otlp_json
from schemas.jsonschema_files import load
from schemas.records import SpanBatch, new_id

_EXPOSITION = """# TYPE req_seconds histogram
req_seconds_bucket{le="0.1"} 1
req_seconds_bucket{le="+Inf"} 3
req_seconds_sum 2.5
req_seconds_count 3
# TYPE q summary
q{quantile="0.5"} 1
q_sum 3
q_count 2
# TYPE c counter
c_total 5
"""


def _check(kind: str, value: bytes) -> None:
    errors = list(Draft202012Validator(load(kind)).iter_errors(orjson.loads(value)))
    assert not errors, [e.message for e in errors[:3]]


async def test_metric_batches_validate():
    samples = await SystemSource(top_processes=3).collect()
    samples += parse_exposition(_EXPOSITION, {"job": "j", "instance": "h:1"})
    for rec in metric_records("m", metric_batch("h", "system", samples, 1.0, {"env": "x"}), 10**6):
        _check("toka.metric_batch.v1", rec.value)


def test_span_batches_validate():
    doc = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "s"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "x", "kind": 3, "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [
                {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
                {"key": "m", "value": {"kvlistValue": {"values": [
                    {"key": "k", "value": {"boolValue": True}}]}}},
                {"key": "b", "value": {"bytesValue": "AAE="}},
                {"key": "d", "value": {"doubleValue": 1.5}}]}]}]}]}  # fmt: skip
    [(resource, spans)] = list(from_otlp_json(doc))
    batch = SpanBatch(id=new_id(), host="h", spans=spans, resource=resource)
    for rec in span_records("s", batch, 10**6):
        _check("toka.span_batch.v1", rec.value)
