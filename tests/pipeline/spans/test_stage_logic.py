"""The spans stage on the windowed-ingest runtime, in process (no broker): malformed OTLP
messages are dead-lettered and acked, a replayed record is not folded twice."""

from __future__ import annotations

import orjson
import pytest

from pipeline.spans.logic import SpanPartition, read_otlp, read_span_batch
from schemas import Span, SpanBatch, encode, new_id
from schemas.config.pipeline import PipelineConfig
from tests.pipeline.runtime.ingest_support import make_ingest, record

T0 = 1_000_000.0
PC = PipelineConfig(window_seconds=[10], grace_seconds=1, idle_close_seconds=5)


def otlp(end_s: float, name: str = "GET /cart", **span: object) -> dict:
    sp = {"traceId": "00" * 16, "spanId": "01" * 8, "name": name,
          "startTimeUnixNano": str(int((end_s - 0.1) * 1e9)),
          "endTimeUnixNano": str(int(end_s * 1e9)), **span}  # fmt: skip
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeSpans": [{"spans": [sp]}],
    }]}  # fmt: skip


MALFORMED = [
    {"resourceSpans": [1]},
    {"resourceSpans": [{"resource": 5}]},
    {"resourceSpans": [{"resource": {"attributes": [7]}}]},
    {"resourceSpans": [{"resource": {"attributes": [{"value": {"stringValue": "x"}}]}}]},
    {"resourceSpans": [{"scopeSpans": ["x"]}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]},
    otlp(T0 + 1, status="ok"),
    otlp(T0 + 1, attributes=[{"key": "k", "value": "v"}]),
    otlp(T0 + 1, attributes=[{"key": "k", "value": {"arrayValue": 3}}]),
    otlp(T0 + 1, kind=[2]),
]


@pytest.mark.parametrize("doc", MALFORMED)
async def test_a_malformed_otlp_message_is_dead_lettered_and_acked(doc: dict) -> None:
    """Finding 3: these raised AttributeError/TypeError/KeyError inside the stage's guard,
    so they were neither dead-lettered nor acked; the spans around them still counted."""
    ingest, out, guard, _, clock = make_ingest(lambda *_: SpanPartition(PC, read_otlp), T0 + 1)
    topic = "otlp_spans"
    await ingest.handle(record(0, orjson.dumps(otlp(T0 + 1)), topic))
    await ingest.handle(record(1, orjson.dumps(doc), topic))
    await ingest.handle(record(2, orjson.dumps(otlp(T0 + 2)), topic))
    ((letter_of, reject),) = out.letters
    assert letter_of.offset == 1 and reject.reason == "wrong_type"
    assert guard.counts["errors"] == 0
    clock.now = T0 + 30
    await ingest.tick({(topic, 0)})  # idle close
    calls = [a for a in out.published if a.name == "toka_span_calls"]
    assert sum(a.count for a in calls) == 2
    assert out.acked == [0, 1, 2]


def span_batch(end_s: float) -> bytes:
    span = Span(trace_id="00" * 16, span_id="01" * 8, name="op", start_ns=int((end_s - 1) * 1e9),
                end_ns=int(end_s * 1e9))  # fmt: skip
    return encode(SpanBatch(id=new_id(), host="h", spans=[span], resource={"service": "s"}))


async def test_a_replayed_span_batch_is_not_folded_twice() -> None:
    """Finding 4: only the windows stage skipped records re-delivered after a rebalance."""
    ingest, out, guard, _, clock = make_ingest(
        lambda *_: SpanPartition(PC, read_span_batch), T0 + 1
    )
    first = span_batch(T0 + 1)
    await ingest.handle(record(0, first, "t.spans"))
    await ingest.handle(record(0, first, "t.spans"))  # re-delivered by the seek
    clock.now = T0 + 30
    await ingest.tick({("t.spans", 0)})
    (calls,) = [a for a in out.published if a.name == "toka_span_calls"]
    assert calls.count == 1 and guard.counts["replayed"] == 1
    assert out.acked == [0, 0]
