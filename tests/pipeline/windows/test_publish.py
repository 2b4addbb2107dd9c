"""The batch record the analytics stages read is built from already encoded aggregates."""

from __future__ import annotations

import jsonschema
import msgspec
import orjson

from pipeline.windows.publish import batch_bytes
from schemas import AggregateBatch, WindowAggregate, decode, encode
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
    def __init__(self) -> None:
        self.producer = _Producer()
        self.sensors: list[object] = []


async def test_every_window_goes_to_aggregates_and_only_the_analytics_size_to_the_batch() -> None:
    from pipeline.windows.publish import AggregatePublisher
    from schemas.config import TokaConfig

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
    from pipeline.windows.publish import AggregatePublisher
    from schemas.config import TokaConfig

    cfg = TokaConfig(pipeline={"window_seconds": [10, 60]})
    app = _App()
    await AggregatePublisher(app, cfg).publish(0, [_agg(0)])
    assert [s[0] for s in app.producer.sent] == [cfg.kafka.topic("aggregates")]
