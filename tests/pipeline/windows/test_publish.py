"""The batch record the analytics stages read is built from already encoded aggregates."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import jsonschema
import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from pipeline.broker import EmbeddedBroker
from pipeline.partitioner import CachingPartitioner
from pipeline.topics import ensure_topics
from pipeline.windows.publish import AggregatePublisher, batch_bytes
from schemas import AggregateBatch, WindowAggregate, decode, encode
from schemas.config import TokaConfig
from schemas.jsonschema_files import load


def _agg(i: int) -> WindowAggregate:
    return WindowAggregate(
        id=f"w{i}", series=f"s{i}", name="cpu", host="h", window_start=0.0, window_end=10.0,
        count=2, sum=3.0, min=1.0, max=2.0, mean=1.5, last=2.0, labels={"core": str(i)},
        p99=1.99,
    )  # fmt: skip


def test_batch_bytes_decode_to_the_same_aggregates_and_match_the_json_schema() -> None:
    aggs = [_agg(i) for i in range(3)]
    raw = batch_bytes([encode(a) for a in aggs])
    batch = decode(raw, AggregateBatch)
    assert batch.aggregates == aggs
    assert batch.id
    jsonschema.validate(orjson.loads(raw), load("toka.aggregate_batch.v1"))


def test_an_empty_close_is_still_a_valid_batch() -> None:
    assert decode(batch_bytes([]), AggregateBatch).aggregates == []


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []

    async def send(self, topic, key, value, partition, timestamp, headers):  # type: ignore[no-untyped-def]  # noqa: PLR0917
        self.sent.append((topic, key, value, partition))


class _App:
    """Faust's surface the publisher uses: ``producer.send`` (here without an aiokafka
    producer underneath, so the one-send-per-record path), ``conf``, ``sensors``."""

    def __init__(self, producer: Any = None) -> None:
        self.producer = producer or _Producer()
        self.conf = SimpleNamespace(producer_partitioner=CachingPartitioner())
        self.sensors: list[object] = []


class _FaustProducer(_Producer):
    def __init__(self, aiokafka_producer: AIOKafkaProducer) -> None:
        super().__init__()
        self._producer = aiokafka_producer


async def _read(bootstrap: str, topic: str, n: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[Any] = []
    try:
        for _ in range(120):
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(msgs)
            if len(got) >= n:
                return got
    finally:
        await consumer.stop()
    raise AssertionError(f"{len(got)} of {n} records on {topic}")


async def test_per_series_records_reach_the_broker_on_kafka_default_partitions(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix},
        pipeline={"window_seconds": [10], "partitions": 3},
    )
    await ensure_topics(cfg)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        app = _App(_FaustProducer(producer))
        aggs = [_agg(i) for i in range(40)]
        await AggregatePublisher(app, cfg).publish(1, aggs)
        await producer.flush()
    finally:
        await producer.stop()
    got = await _read(broker.bootstrap, cfg.kafka.topic("aggregates"), 40)
    default = DefaultPartitioner()
    assert sorted(m.key for m in got) == sorted(a.series.encode() for a in aggs)
    assert all(m.partition == default(m.key, [0, 1, 2], [0, 1, 2]) for m in got)
    by_id = sorted((decode(m.value, WindowAggregate) for m in got), key=lambda a: a.id)
    assert by_id == sorted(aggs, key=lambda a: a.id)
    assert len({m.partition for m in got}) == 3  # the 40 series spread over all three
    # The batch went through Faust's send (the stub's), to the input's partition.
    assert [(t, p) for t, _, _, p in app.producer.sent] == [
        (cfg.kafka.topic("aggregate-batches"), 1)
    ]


async def test_every_window_goes_to_aggregates_and_only_the_analytics_size_to_the_batch() -> None:
    cfg = TokaConfig(pipeline={"window_seconds": [10, 60], "partitions": 4})
    app = _App()
    ten = [_agg(i) for i in range(3)]  # 0..10 s
    sixty = [msgspec.structs.replace(a, id=a.id + "m", window_end=60.0) for a in ten]
    await AggregatePublisher(app, cfg).publish(6, ten + sixty)
    sent = app.producer.sent
    per_series = [s for s in sent if s[0] == cfg.kafka.topic("aggregates")]
    batches = [s for s in sent if s[0] == cfg.kafka.topic("aggregate-batches")]
    assert [s[1] for s in per_series] == [a.series.encode() for a in ten + sixty]
    assert len(batches) == 1 and batches[0][3] == 6 % 4
    assert decode(batches[0][2], AggregateBatch).aggregates == sixty


async def test_no_batch_when_no_window_of_the_analytics_size_closed() -> None:
    cfg = TokaConfig(pipeline={"window_seconds": [10, 60]})
    app = _App()
    await AggregatePublisher(app, cfg).publish(0, [_agg(0)])
    assert [s[0] for s in app.producer.sent] == [cfg.kafka.topic("aggregates")]
