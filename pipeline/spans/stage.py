"""The spans stage: SpanBatch records and OTLP spans -> RED window aggregates.

One SpanPartition per (topic, partition), driven by the windowed-ingest runtime
(pipeline.runtime) exactly as the windows stage: decoding errors (a malformed OTLP
message included) and late spans go to ``toka.deadletter`` keyed by source topic,
records are acked once their windows are out, a replayed record is not folded twice.
Closed windows go to ``toka.aggregates`` and to the window sinks (alerts), so RED metrics
alert like any other series.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from agents.redact import Redactor
from pipeline.runtime.context import StageContext
from pipeline.runtime.faust_runtime import run_windowed
from pipeline.spans.logic import SpanPartition, read_otlp, read_span_batch

__all__ = ["install"]


def install(ctx: StageContext) -> None:
    pc = ctx.cfg.pipeline
    sources: list[tuple[Any, str]] = [(ctx.topics.spans, "toka-spans")]
    readers = {ctx.topics.spans.get_topic_name(): read_span_batch}
    if pc.otlp_spans_topic:
        otlp = ctx.app.topic(pc.otlp_spans_topic, key_type=bytes, value_type=bytes)
        sources.append((otlp, "toka-otlp-spans"))
        # A Collector's spans never passed an agent: redacted here, by this worker's rules.
        redactor = Redactor.from_config(ctx.cfg.agent.redaction)
        readers[pc.otlp_spans_topic] = partial(read_otlp, redactor=redactor)
    run_windowed(ctx, "spans", sources, lambda topic, _partition: SpanPartition(pc, readers[topic]))
