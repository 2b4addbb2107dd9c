"""Applications push metrics: the official OpenTelemetry OTLP/HTTP metrics exporter (and
OTLP/JSON) through the agent's POST /v1/metrics, ending as MetricBatch records on the real
broker: gauges, sums of both temporalities, histograms, exponential histograms."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableGauge,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from agents.runtime import AgentRuntime
from pipeline.broker import EmbeddedBroker
from schemas.config import load_config
from schemas.records import MetricBatch, Sample
from tests.agents._support import agent_config_file, read_topic

pytestmark = pytest.mark.integration

LATENCIES = [0.003, 0.012, 0.012, 0.05, 0.2, 0.2, 0.2, 1.5, 4.0]


def _config(tmp_path: Path, broker: EmbeddedBroker, prefix: str) -> Any:
    return load_config(agent_config_file(
        tmp_path, broker.bootstrap, prefix,
        sources={"system": {"enabled": False}, "otlp": {"enabled": True, "port": 0}},
    ))  # fmt: skip


def _record(provider: MeterProvider, rounds: int, reader: Any, exporter: Any) -> None:
    meter = provider.get_meter("shop")
    requests = meter.create_counter("http.server.requests", unit="1")
    inflight = meter.create_up_down_counter("http.server.active_requests")
    latency = meter.create_histogram("http.server.duration", unit="s")
    exp_latency = meter.create_histogram("rpc.duration", unit="s")
    meter.create_observable_gauge(
        "queue.depth", callbacks=[lambda _o: [__import__("opentelemetry").metrics.Observation(
            7.0, {"queue": "orders"})]],
    )  # fmt: skip
    for _ in range(rounds):
        for value in LATENCIES:
            requests.add(1, {"route": "/cart"})
            latency.record(value, {"route": "/cart"})
            exp_latency.record(value, {"route": "/cart"})
        inflight.add(2)
        inflight.add(-1)
        exporter.export(reader.get_metrics_data())


def _provider(temporality: AggregationTemporality) -> tuple[MeterProvider, InMemoryMetricReader]:
    preferred = {Counter: temporality, UpDownCounter: temporality, Histogram: temporality,
                 ObservableGauge: AggregationTemporality.CUMULATIVE}  # fmt: skip
    reader = InMemoryMetricReader(preferred_temporality=preferred)
    provider = MeterProvider(
        resource=Resource({"service.name": "shop", "service.version": "1.2"}),
        metric_readers=[reader],
        views=[View(instrument_name="rpc.duration",
                    aggregation=ExponentialBucketHistogramAggregation(max_size=40))],
    )  # fmt: skip
    return provider, reader


def _last(batches: list[MetricBatch], name: str, **labels: str) -> Sample:
    def wanted(s: Sample) -> bool:
        return s.name == name and all(s.labels.get(k) == v for k, v in labels.items())

    found = [s for b in batches for s in b.samples if wanted(s)]
    assert found, f"no {name} {labels} in {sorted({s.name for b in batches for s in b.samples})}"
    return max(found, key=lambda s: (s.ts or 0, s.value))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
async def test_official_otlp_metrics_exporter(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, temporality: str
) -> None:
    cfg = _config(tmp_path, broker, f"{topic_prefix}{temporality}.")
    runtime = AgentRuntime(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None:
        await asyncio.sleep(0.01)
    exporter = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{runtime.otlp_port}/v1/metrics")
    provider, reader = _provider(AggregationTemporality[temporality.upper()])
    rounds = 3
    await asyncio.to_thread(_record, provider, rounds, reader, exporter)
    records = await read_topic(broker.bootstrap, cfg.kafka.topic("metrics"), expect=rounds)
    stop.set()
    await run

    batches = [b for _, b in records if isinstance(b, MetricBatch)]
    assert len(batches) == rounds and all(b.source == "otlp_metrics" for b in batches)
    assert all(k == b"test-host" and b.host == "test-host" for k, b in records)
    assert batches[0].resource["service.name"] == "shop"
    n = rounds * len(LATENCIES)

    counter = _last(batches, "http_server_requests_total", route="/cart", service="shop")
    assert (counter.type, counter.value) == ("counter", n)  # deltas summed to a running total
    assert _last(batches, "http_server_active_requests").value == rounds  # +2 -1 per round
    gauge = _last(batches, "queue_depth", queue="orders")
    assert (gauge.type, gauge.value) == ("gauge", 7.0)

    hist = _last(batches, "http_server_duration", route="/cart")
    assert hist.type == "histogram" and hist.value == n
    assert hist.sum == pytest.approx(rounds * sum(LATENCIES))
    for le, count in hist.buckets or []:
        assert count == rounds * sum(v <= le for v in LATENCIES), le

    exp = _last(batches, "rpc_duration", route="/cart")
    assert exp.type == "histogram" and exp.value == n
    assert exp.sum == pytest.approx(rounds * sum(LATENCIES))
    bounds = [le for le, _ in exp.buckets or []]
    assert bounds == sorted(bounds) and len(bounds) < 80
    for le, count in exp.buckets or []:
        # Exact: no observation lies within a bucket's width of a bound (values are distinct
        # enough for scale 3, a bucket is 9% wide), so cumulative counts are the truth.
        assert count == rounds * sum(v <= le * (1 + 1e-9) for v in LATENCIES), le
    collected = runtime.metrics.value("toka_agent_records_collected_total", source="otlp_metrics")
    assert collected == rounds


async def test_otlp_json_and_bad_requests(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, broker, topic_prefix)
    runtime = AgentRuntime(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{runtime.otlp_port}/v1/metrics"
    doc = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "jobs.queued", "gauge": {"dataPoints": [
                {"asInt": "12", "timeUnixNano": "1700000000000000000",
                 "attributes": [{"key": "queue", "value": {"stringValue": "email"}}],
                 "exemplars": [{"spanId": "eee19b7ec3c1b174", "asDouble": 1.0}]}]}},
            {"name": "jobs.done", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
             "dataPoints": [{"asDouble": 41.5, "timeUnixNano": "1700000000000000000"}]}},
            {"name": "payload.size", "exponentialHistogram": {"aggregationTemporality": 2,
             "dataPoints": [{"count": "5", "sum": 40.0, "scale": 0, "zeroCount": "1",
                             "positive": {"offset": 1, "bucketCounts": ["1", "0", "3"]},
                             "timeUnixNano": "1700000000000000000"}]}},
        ]}]}]}  # fmt: skip
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=orjson.dumps(doc),
                             headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
            assert resp.status == 200 and await resp.json() == {}
        async with http.post(url, data=b"{nope", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400 and "not_json" in (await r.json())["message"]
        proto = {"Content-Type": "application/x-protobuf"}
        async with http.post(url, data=b"\xff\xff", headers=proto) as r:
            assert r.status == 400
        async with http.post(url, data=b"x", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
    records = await read_topic(broker.bootstrap, cfg.kafka.topic("metrics"), expect=1)
    stop.set()
    await run
    (batch,) = [b for _, b in records]
    got = {s.name: s for s in batch.samples}
    assert got["jobs_queued"].value == 12 and got["jobs_queued"].labels == {
        "service": "billing", "queue": "email"}  # fmt: skip
    assert got["jobs_done_total"].type == "counter" and got["jobs_done_total"].value == 41.5
    exp = got["payload_size"]
    # scale 0: bucket i holds (2^i, 2^(i+1)]; offsets 1..3 -> bounds 4, 8, 16
    assert exp.buckets == [(0.0, 1.0), (4.0, 2.0), (8.0, 2.0), (16.0, 5.0)]
    assert exp.value == 5 and exp.sum == 40.0
    assert runtime.metrics.value("toka_agent_receiver_rejected_total", reason="malformed") == 2
    assert runtime.metrics.value("toka_agent_receiver_rejected_total", reason="content_type") == 1
    assert not math.isnan(exp.sum or 0.0)
