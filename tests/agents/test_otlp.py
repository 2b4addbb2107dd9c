"""Spans in: the official OTLP/HTTP exporter through the agent's receiver, OTLP/JSON, bad
requests, and the SDK SpanExporter, all ending as SpanBatch records on the real broker."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased

from agents.redact import MASK
from agents.runtime import AgentRuntime
from agents.spans.exporter import TokaSpanExporter
from pipeline.broker import EmbeddedBroker
from schemas.config import load_config
from schemas.records import SpanBatch
from tests.agents._support import agent_config_file, read_topic

pytestmark = pytest.mark.integration

TRACES, DEPTH = 1000, 10  # 10,000 spans


def _config(tmp_path: Path, broker: EmbeddedBroker, prefix: str, rate: float, **otlp: Any):
    path = agent_config_file(
        tmp_path, broker.bootstrap, prefix,
        sources={"system": {"enabled": False}, "otlp": {"enabled": True, "port": 0, **otlp}},
    )  # fmt: skip
    text = path.read_text() + f"performance:\n  tracing_sample_rate: {rate}\n"
    path.write_text(text)
    return load_config(path)


def _make_traces(provider: TracerProvider) -> list[int]:
    tracer = provider.get_tracer("test")
    trace_ids = []
    for i in range(TRACES):
        with tracer.start_as_current_span("GET /checkout", attributes={"http.route": "/checkout",
                                          "authorization": "Bearer s3cr3t"}) as root:  # fmt: skip
            trace_ids.append(root.get_span_context().trace_id)
            for j in range(DEPTH - 1):
                with tracer.start_as_current_span(f"step-{j}", attributes={"i": i}):
                    pass
    provider.shutdown()  # flushes the BatchSpanProcessor through the exporter
    return trace_ids


async def _read_spans(
    bootstrap: str, topic: str, expect_spans: int
) -> list[tuple[bytes, SpanBatch]]:
    batches: list[tuple[bytes, SpanBatch]] = []
    for _ in range(20):
        batches = await read_topic(bootstrap, topic, expect=1, timeout=3)  # type: ignore[assignment]
        if sum(len(b.spans) for _, b in batches) >= expect_spans:
            break
    return batches


@pytest.mark.timeout(120)
async def test_official_otlp_exporter_10k_spans_sampled_by_trace(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    rate = 0.5
    cfg = _config(tmp_path, broker, topic_prefix, rate)
    runtime = AgentRuntime(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None:
        await asyncio.sleep(0.01)

    provider = TracerProvider(resource=Resource({"service.name": "checkout"}), sampler=ALWAYS_ON)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{runtime.otlp_port}/v1/traces")
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=20_000, max_export_batch_size=512, schedule_delay_millis=50
        )  # fmt: skip
    )
    trace_ids = await asyncio.to_thread(_make_traces, provider)
    # The expected set comes from the OTel SDK's own ratio sampler, not from our code.
    ratio = TraceIdRatioBased(rate)
    kept = {
        f"{t:032x}" for t in trace_ids if ratio.should_sample(None, t, "x").decision.is_sampled()
    }
    assert 0.4 * TRACES < len(kept) < 0.6 * TRACES

    batches = await _read_spans(broker.bootstrap, f"{topic_prefix}spans", len(kept) * DEPTH)
    stop.set()
    await run

    spans = [s for _, b in batches for s in b.spans]
    assert runtime.metrics.value("toka_agent_spans_received_total") == TRACES * DEPTH
    assert {s.trace_id for s in spans} == kept  # every sampled trace, no other
    assert len(spans) == len({s.span_id for s in spans}) == len(kept) * DEPTH  # whole traces
    assert all(k == b"checkout" and b.resource["service.name"] == "checkout" for k, b in batches)
    assert all(len(b.spans) <= 512 for _, b in batches)
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == len(kept)
    assert all(r.attributes["authorization"] == MASK and r.kind == "internal" for r in roots)
    by_id = {s.span_id: s for s in spans}
    assert all(s.parent_span_id in by_id for s in spans if s.parent_span_id)


async def test_json_gzip_and_bad_requests(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    cfg = _config(
        tmp_path, broker, topic_prefix, 1.0, max_body_bytes=4096, batch_max_age_seconds=0.1
    )
    runtime = AgentRuntime(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{runtime.otlp_port}/v1/traces"
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "pay"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
            "name": "charge", "kind": 2, "startTimeUnixNano": "1000", "endTimeUnixNano": "2000",
            "status": {"code": 2},
            "attributes": [{"key": "retries", "value": {"intValue": "3"}},
                           {"key": "user.password", "value": {"stringValue": "x"}}],
        }]}],
    }]}  # fmt: skip
    json_h = {"Content-Type": "application/json"}
    proto_h = {"Content-Type": "application/x-protobuf"}
    try:
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
                async with http.post(url, data=body, headers=headers) as r:
                    return r.status, await r.read()

            assert (await post(orjson.dumps(doc), json_h))[0] == 200
            gz = {**json_h, "Content-Encoding": "gzip"}
            assert (await post(gzip.compress(orjson.dumps(doc)), gz))[0] == 200
            status, body = await post(b"{not json", json_h)
            assert status == 400 and b"not JSON" in body
            status, body = await post(
                b'{"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}]}', json_h
            )
            assert status == 400 and b"traceId" in body
            status, body = await post(b"\xff\xff\xff garbage", proto_h)
            assert status == 400 and b"ExportTraceServiceRequest" in body
            assert (await post(b"x" * 5000, proto_h))[0] == 413
            bomb = gzip.compress(b"\x00" * 100_000)  # small on the wire, huge inside
            assert (await post(bomb, {**proto_h, "Content-Encoding": "gzip"}))[0] == 413
            assert (await post(b"hello", {"Content-Type": "text/plain"}))[0] == 415
            assert (await post(orjson.dumps(doc), json_h))[0] == 200  # still up
        batches = await _read_spans(broker.bootstrap, f"{topic_prefix}spans", 3)
    finally:
        stop.set()
        await run
    spans = [s for _, b in batches for s in b.spans]
    assert len(spans) == 3
    s = spans[0]
    assert (s.trace_id, s.span_id, s.kind, s.status) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "server",
        "error",
    )
    assert s.attributes == {"retries": 3, "user.password": MASK}
    # Size is the endpoint guard's to refuse (agents.endpoint), counted with its refusals.
    refused = runtime.metrics.value(
        "toka_agent_http_refused_total", endpoint="otlp", reason="too_large"
    )
    assert refused == 2


async def test_sdk_span_exporter_publishes_to_kafka(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    cfg = _config(tmp_path, broker, topic_prefix, 1.0)
    exporter = TokaSpanExporter(cfg)
    provider = TracerProvider(resource=Resource({"service.name": "inventory"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("t")

    def work() -> None:
        for _ in range(20):
            with tracer.start_as_current_span("reserve", attributes={"api_key": "k", "n": 1}):
                with tracer.start_as_current_span("db.query"):
                    pass
        provider.shutdown()

    await asyncio.to_thread(work)
    batches = await _read_spans(broker.bootstrap, f"{topic_prefix}spans", 40)
    spans = [s for _, b in batches for s in b.spans]
    assert len(spans) == 40
    assert {k for k, _ in batches} == {b"inventory"}
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 20 and all(r.attributes == {"api_key": MASK, "n": 1} for r in roots)
    assert (
        exporter.metrics.value("toka_agent_records_sent_total", topic=f"{topic_prefix}spans") >= 1
    )


async def test_receiver_pushes_back_when_the_spool_is_nearly_full(tmp_path: Path):
    from pipeline.broker import free_port

    path = agent_config_file(
        tmp_path, f"127.0.0.1:{free_port()}", "t.",  # Kafka unreachable: everything spools
        sources={"system": {"enabled": False},
                 "otlp": {"enabled": True, "port": 0, "batch_max_age_seconds": 0.05}},
        publisher={"spool_max_bytes": 20_000, "spool_segment_bytes": 2_000,
                   "request_timeout_seconds": 1, "shutdown_timeout_seconds": 0},
    )  # fmt: skip
    runtime = AgentRuntime(load_config(path))
    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{runtime.otlp_port}/v1/traces"
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "x" * 300, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}  # fmt: skip
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    statuses = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                async with http.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as r:
                    statuses.append(r.status)
                    if r.status == 503:
                        assert r.headers["Retry-After"] == "5"
                        assert (await r.json())["code"] == 14  # UNAVAILABLE: retryable
                        break
                await asyncio.sleep(0.15)  # the span batch reaches the spool (max age 0.05 s)
    finally:
        stop.set()
        await run
    assert statuses[-1] == 503 and statuses.count(200) >= 20
    assert (
        runtime.metrics.value("toka_agent_records_dropped_total", reason="spool_full_oldest") == 0
    )
    assert runtime.metrics.value("toka_agent_receiver_rejected_total", reason="overloaded") == 1
