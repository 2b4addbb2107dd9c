"""A real worker reads the Collector's otlp_metrics topic: messages written to any of its
partitions join toka.metrics keyed by their resource's host, become window aggregates, and
an undecodable message goes to the dead-letter topic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import DeadLetter, MetricBatch, decode, new_id
from schemas.aggregates import read_aggregates
from schemas.config import TokaConfig
from tests.pipeline.otlp_metrics.otlp_messages import sdk_requests
from tests.support.kafka import collect, publish, stop_process, toka_process

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[TokaConfig]:
    prefix = f"om{new_id()[:6]}."
    otlp = f"{prefix}otlp_metrics"
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-test-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": "[2]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "3",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__PARTITIONS": "2",
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "data"),
        "TOKA_PIPELINE__OTLP_SPANS_TOPIC": "",
        "TOKA_PIPELINE__OTLP_METRICS_TOPIC": otlp,
    }
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
                     pipeline={"partitions": 2, "otlp_metrics_topic": otlp})  # fmt: skip
    asyncio.run(ensure_topics(cfg))
    asyncio.run(_create(broker.bootstrap, otlp, partitions=3))  # the Collector's, not ours
    proc = toka_process(["worker", "--loglevel", "info"], env, tmp_path / "worker.log")
    try:
        yield cfg
    finally:
        code = stop_process(proc)
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert code == 0 and "Traceback" not in log, log[-3000:]


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def test_collector_metrics_are_rekeyed_by_resource_and_aggregated(
    worker: TokaConfig,
) -> None:
    bs, otlp = worker.kafka.bootstrap_servers, worker.pipeline.otlp_metrics_topic
    requests = sdk_requests("db-1", rounds=3)
    for i, req in enumerate(requests):  # spread over the Collector topic's partitions
        await publish(bs, otlp, [(None, req.SerializeToString())], partition=i % 3)
    await publish(bs, otlp, [(None, b"\xff\xff not otlp")], partition=1)

    metrics = await collect(bs, worker.kafka.topic("metrics"), lambda r: len(r) >= 3,
                            timeout=60)  # fmt: skip
    assert len(metrics) == 3
    batches = [decode(raw, MetricBatch) for raw in metrics]
    assert {b.host for b in batches} == {"db-1"} and {b.source for b in batches} == {"otlp_metrics"}

    def done(records: list[bytes]) -> bool:
        return any(a.name == "jobs_done_total" and a.host == "db-1"
                   for r in records for a in read_aggregates(r))  # fmt: skip

    aggregates = await collect(bs, worker.kafka.topic("aggregates"), done, timeout=60)
    counters = [a for r in aggregates for a in read_aggregates(r)
                if a.name == "jobs_done_total" and a.host == "db-1"]  # fmt: skip
    assert max(a.last for a in counters) == 15  # 3 rounds of +5, cumulative
    assert counters[0].labels == {"service": "billing", "queue": "email"}

    dead = await collect(bs, worker.kafka.topic("deadletter"), lambda r: len(r) >= 1, timeout=30,
                         decode=lambda b: decode(b, DeadLetter))  # fmt: skip
    assert dead[0].source_topic == otlp and dead[0].reason == "invalid"
