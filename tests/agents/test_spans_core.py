"""Pure span cores: trace-id sampling agrees with the OTel SDK, intake batching and limits."""

from __future__ import annotations

import os
import random

from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from agents.limits import TokenBucket
from agents.selfmetrics import AgentMetrics
from agents.spans.intake import SpanIntake
from agents.spans.sampling import TraceSampler, sdk_sampler
from schemas.codec import decode
from schemas.records import Span, SpanBatch


def test_sampler_agrees_with_the_sdk_on_every_trace():
    rnd = random.Random(1)
    for rate in (0.0, 0.01, 0.25, 0.5, 0.99, 1.0):
        ours, theirs = TraceSampler(rate), TraceIdRatioBased(rate)
        for _ in range(2000):
            t = rnd.getrandbits(128)
            expected = theirs.should_sample(None, t, "x").decision.is_sampled()
            assert ours.keep_hex(f"{t:032x}") == expected
            assert ours.keep_bytes(t.to_bytes(16, "big")) == expected
    assert "ParentBased" in type(sdk_sampler(0.5)).__name__


def _span(trace: str, i: int) -> Span:
    return Span(trace_id=trace, span_id=f"{i:016x}", name="n", start_ns=1, end_ns=2)


def test_intake_batches_by_service_size_and_age():
    now = [0.0]
    out = []
    intake = SpanIntake(host="h", topic="p.spans", emit=out.append, metrics=AgentMetrics(),
                        sampler=TraceSampler(1.0), max_spans=4, max_age=1.0,
                        clock=lambda: now[0])  # fmt: skip
    t = os.urandom(16).hex()
    intake.add([({"service.name": "a"}, [_span(t, i) for i in range(10)]),
                ({"service.name": "b"}, [_span(t, 99)])])  # fmt: skip
    assert [len(decode(r.value).spans) for r in out] == [4, 4]  # a: two full batches
    intake.flush_due()
    assert len(out) == 2  # nothing old enough yet
    now[0] = 1.5
    intake.flush_due()
    batches = [decode(r.value, SpanBatch) for r in out]
    assert sorted(len(b.spans) for b in batches) == [1, 2, 4, 4]
    assert {r.key for r in out} == {b"a", b"b"}
    assert len({b.id for b in batches}) == 4


def test_intake_limits_and_sampling_are_counted():
    m = AgentMetrics()
    out = []
    now = [0.0]
    intake = SpanIntake(host="h", topic="s", emit=out.append, metrics=m, sampler=TraceSampler(0.0),
                        limiter=TokenBucket(5, clock=lambda: now[0]))  # fmt: skip
    res = intake.add([({}, [_span("f" * 32, i) for i in range(8)])])
    assert (res.received, res.sampled_out, res.rejected) == (8, 8, 0)
    intake = SpanIntake(host="h", topic="s", emit=out.append, metrics=m, sampler=TraceSampler(1.0),
                        limiter=TokenBucket(5, clock=lambda: now[0]))  # fmt: skip
    res = intake.add([({}, [_span("0" * 32, i) for i in range(8)])])
    assert (res.received, res.sampled_out, res.rejected) == (8, 0, 3)
    intake.flush_all()
    assert len(decode(out[-1].value).spans) == 5
    assert m.value("toka_agent_spans_dropped_total", reason="max_spans_per_second") == 3
    assert m.value("toka_agent_spans_sampled_out_total") == 8


def test_oversized_batches_are_split_not_dropped():
    from agents.batch import metric_batch, metric_records, span_records
    from schemas.records import MetricBatch, Sample

    samples = [Sample(name="s", value=i, labels={"k": "v" * 50}) for i in range(1000)]
    batch = metric_batch("h", "prometheus", samples, 1.0, {})
    records = metric_records("m", batch, max_bytes=10_000)
    decoded = [decode(r.value, MetricBatch) for r in records]
    assert all(len(r.value) <= 10_000 for r in records) and len(records) > 5
    assert [s.value for b in decoded for s in b.samples] == list(range(1000))  # order kept
    assert len({b.id for b in decoded}) == len(records)
    assert len(metric_records("m", batch, max_bytes=10**9)) == 1
    spans = SpanBatch(id="x", host="h", spans=[_span("a" * 32, i) for i in range(300)])
    parts = [decode(r.value, SpanBatch) for r in span_records("s", spans, max_bytes=5_000)]
    assert sum(len(p.spans) for p in parts) == 300 and len(parts) > 2


def test_invalid_protobuf_ids_are_refused():
    import pytest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from agents.spans.convert import from_otlp_proto

    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 3, span_id=b"\x02" * 8)
    with pytest.raises(ValueError, match="16 bytes"):
        list(from_otlp_proto(req))


def test_intake_redacts_resource_span_names_and_attributes():
    from agents.redact import DEFAULT_RULES, Redactor

    out = []
    intake = SpanIntake(host="h", topic="s", emit=out.append, metrics=AgentMetrics(),
                        sampler=TraceSampler(1.0), redactor=Redactor(DEFAULT_RULES))  # fmt: skip
    span = Span(trace_id=os.urandom(16).hex(), span_id="01" * 8, start_ns=1, end_ns=2,
                name="login ann@example.com", attributes={"db.url": "pg://u:pw1@db/x"})  # fmt: skip
    resource = {"service.name": "a", "process.command_line": "java -Dtoken=tk1 -jar a.jar"}
    intake.add([(resource, [span])])
    intake.flush_all()
    (batch,) = [decode(r.value, SpanBatch) for r in out]
    assert batch.resource["process.command_line"] == "java -Dtoken=*** -jar a.jar"
    assert batch.spans[0].name == "login ***"
    assert batch.spans[0].attributes == {"db.url": "pg://u:***@db/x"}
