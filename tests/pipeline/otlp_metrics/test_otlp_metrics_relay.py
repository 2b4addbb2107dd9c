"""The otlp_metrics stage on the windowed-ingest runtime, in process (no broker): each
message's MetricBatches go on to toka.metrics, the message is acked once they are
delivered, a message that is not OTLP is dead-lettered and acked in order."""

from __future__ import annotations

from agents.otlp_metrics.convert import DeltaState
from pipeline.otlp_metrics.stage import OtlpMetricsRelay
from schemas import MetricBatch, decode
from tests.pipeline.otlp_metrics.otlp_messages import sdk_requests
from tests.pipeline.runtime.ingest_support import make_ingest, record

METRICS = object()  # the toka.metrics topic, as the relay sees it


async def test_batches_go_on_and_a_bad_message_is_dead_lettered_in_order() -> None:
    deltas = DeltaState()
    ingest, out, guard, _, _ = make_ingest(lambda *_: OtlpMetricsRelay(deltas, METRICS), 0.0)
    out.hold_deliveries = True  # publish() only; derived records are delivered at once
    (first, second) = sdk_requests("db-1", rounds=2)
    await ingest.handle(record(0, first.SerializeToString(), "otlp_metrics"))
    await ingest.handle(record(1, b"\xff\xff not otlp", "otlp_metrics"))
    await ingest.handle(record(2, second.SerializeToString(), "otlp_metrics"))
    batches = [decode(o.value, MetricBatch) for o in out.sent]
    assert [b.host for b in batches] == ["db-1", "db-1"]
    assert all(o.target is METRICS and o.key == b"db-1" for o in out.sent)
    assert [(r.offset, j.reason) for r, j in out.letters] == [(1, "invalid")]
    assert out.acked == [0, 1, 2] and guard.counts["decode"] == 1
    # A replayed message is not converted twice (its delta state would be counted twice).
    await ingest.handle(record(2, second.SerializeToString(), "otlp_metrics"))
    assert len(out.sent) == 2 and guard.counts["replayed"] == 1
