"""The spans stage on the real broker: SpanBatch and OTLP spans -> RED aggregates;
bad records and late spans -> dead letter; windows of an idle partition still close."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.spans.core import CALLS, DURATION, ERRORS
from pipeline.topics import ensure_topics
from schemas import Alert, DeadLetter, WindowAggregate, decode, encode, new_id
from schemas.config import TokaConfig
from tests.support.kafka import collect, publish, stop_process

from .helpers import span, span_batch
from .test_otlp import otlp_json, otlp_proto

pytestmark = pytest.mark.integration
WINDOW = 2.0
RULES = """
rules:
  - name: SpanErrorsHigh
    metric: toka_span_errors
    field: mean
    thresholds: {critical: 0.5}
"""


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokaConfig]:
    prefix = f"s{new_id()[:6]}."
    otlp = f"{prefix}otlp_spans"
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-spans-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "2",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__OTLP_SPANS_TOPIC": otlp,
    }
    tmp = tmp_path_factory.mktemp("spans-worker")
    env["TOKA_PIPELINE__DATA_DIR"] = str(tmp / "data")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    env["TOKA_PIPELINE__RULES_FILE"] = str(rules)
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
                     pipeline={"partitions": 2, "otlp_spans_topic": otlp})  # fmt: skip
    asyncio.run(_create_topics(cfg, otlp))
    log = tmp / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("worker_main.py")), "worker"],
            env={**os.environ, **env, "PYTHONPATH": os.getcwd()},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield cfg
    finally:
        code = stop_process(proc)
        text = log.read_text(errors="replace")
        assert code == 0, f"worker exited with {code}:\n{text[-3000:]}"
        assert "Traceback" not in text, text[-3000:]


async def _create_topics(cfg: TokaConfig, otlp: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    await ensure_topics(cfg)
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(otlp, 1, 1)])
    finally:
        await admin.close()


def red_of(aggs: list[WindowAggregate], service: str) -> dict[tuple[str, str], WindowAggregate]:
    return {(a.labels["operation"], a.name): a for a in aggs if a.labels.get("service") == service}


async def test_span_batches_become_red_aggregates_and_bad_or_late_go_to_dead_letter(
    worker: TokaConfig,
) -> None:
    service = f"svc-{new_id()[:6]}"
    bs, now = worker.kafka.bootstrap_servers, time.time()
    t = (now // WINDOW) * WINDOW - 2 * WINDOW  # a whole window, already past
    key = service.encode()
    spans = [span("GET /a", t + 0.1 * i, 0.05 * (i + 1), error=i == 0) for i in range(5)]
    late = span("GET /a", t - 10 * WINDOW, 0.5)
    await publish(bs, worker.kafka.topic("spans"), [
        (key, encode(span_batch(service, spans[:3]))),
        (key, b"{broken"),
        (key, encode(span_batch(service, spans[3:]))),
        (key, encode(span_batch(service, [span("tick", now, 0.01)]))),  # moves the watermark
        (key, encode(span_batch(service, [late]))),
    ])  # fmt: skip

    def mine(aggs: list[WindowAggregate]) -> dict:
        return red_of(aggs, service)

    aggs = await collect(bs, worker.kafka.topic("aggregates"),
                         lambda a: ("GET /a", DURATION) in mine(a), timeout=60,
                         decode=lambda b: decode(b, WindowAggregate))  # fmt: skip
    red = mine(aggs)
    assert red[("GET /a", CALLS)].sum == 5
    assert red[("GET /a", ERRORS)].sum == 1
    dur = red[("GET /a", DURATION)]
    assert dur.window_start == t and dur.window_end == t + WINDOW
    assert dur.max == pytest.approx(0.25) and dur.p50 == pytest.approx(0.15, rel=0.01)
    assert dur.series == f'{DURATION}{{host="h1",operation="GET /a",service="{service}"}}'

    def keyed(d: list[DeadLetter]) -> list[DeadLetter]:
        return [x for x in d if x.key_b64 is not None and service in _b64(x.key_b64)]

    dead = await collect(bs, worker.kafka.topic("deadletter"), lambda d: len(keyed(d)) >= 2,
                         timeout=60, decode=lambda b: decode(b, DeadLetter))  # fmt: skip
    by_reason = {d.reason: d for d in keyed(dead)}
    assert set(by_reason) == {"not_json", "late"}
    assert _b64(by_reason["not_json"].original_b64) == "{broken"
    late_batch = decode(base64.b64decode(by_reason["late"].original_b64))
    assert [s.span_id for s in late_batch.spans] == [late.span_id]
    assert all(d.source_topic == worker.kafka.topic("spans") for d in keyed(dead))


@pytest.mark.parametrize("make", [otlp_proto, otlp_json])
async def test_otlp_exporter_messages_become_red_aggregates(worker: TokaConfig, make) -> None:
    service = f"otel-{make.__name__}-{new_id()[:4]}"
    # Closing relies on the idle timeout alone: nothing else arrives on this partition.
    data = make(service=service).replace(b"1700000000", str(int(time.time()) - 5).encode())
    if make is otlp_proto:
        data = _proto_now(service)
    await publish(worker.kafka.bootstrap_servers, worker.pipeline.otlp_spans_topic, [(None, data)])
    aggs = await collect(worker.kafka.bootstrap_servers, worker.kafka.topic("aggregates"),
                         lambda a: len(red_of(a, service)) == 6, timeout=60,
                         decode=lambda b: decode(b, WindowAggregate))  # fmt: skip
    red = red_of(aggs, service)
    assert red[("GET /cart", ERRORS)].sum == 1 and red[("SELECT", ERRORS)].sum == 0
    assert red[("GET /cart", DURATION)].p99 == pytest.approx(0.25, rel=0.01)
    assert red[("GET /cart", CALLS)].host == "node-1"


async def test_red_windows_go_through_the_alert_rules(worker: TokaConfig) -> None:
    service = f"bad-{new_id()[:6]}"
    bs, now = worker.kafka.bootstrap_servers, time.time()
    t = (now // WINDOW) * WINDOW - 2 * WINDOW
    key = service.encode()
    await publish(bs, worker.kafka.topic("spans"), [
        (key, encode(span_batch(service, [span("POST /pay", t + 0.1 * i, 0.1, error=i < 3)
                                          for i in range(4)]))),
        (key, encode(span_batch(service, [span("tick", now, 0.01)]))),
    ])  # fmt: skip

    def mine(alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if a.labels.get("service") == service]

    got = await collect(bs, worker.kafka.topic("alerts"), lambda a: bool(mine(a)), timeout=60,
                        decode=lambda b: decode(b, Alert))  # fmt: skip
    (alert,) = mine(got)
    assert alert.status == "firing" and alert.rule == "SpanErrorsHigh"
    assert alert.labels["operation"] == "POST /pay" and alert.labels["severity"] == "critical"
    assert alert.value == pytest.approx(0.75)


def _proto_now(service: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    req = ExportTraceServiceRequest()
    req.ParseFromString(otlp_proto(service=service))
    shift = (
        int((time.time() - 5) * 1e9)
        - req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano
    )
    for sp in req.resource_spans[0].scope_spans[0].spans:
        sp.start_time_unix_nano += shift
        sp.end_time_unix_nano += shift
    return req.SerializeToString()


def _b64(s: str) -> str:
    return base64.b64decode(s).decode(errors="replace")
