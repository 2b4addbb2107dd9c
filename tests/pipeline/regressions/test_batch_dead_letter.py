"""decode_batch_or_dead_letter: a bad AggregateBatch goes to the dead-letter topic whole;
a batch with one bad aggregate loses only that one."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline.deadletter import decode_batch_or_dead_letter
from pipeline.runtime.guard import ProcessingGuard
from schemas import AggregateBatch, DeadLetter, WindowAggregate, decode, encode, new_id

MSG = SimpleNamespace(topic="t.aggregate-batches", key=None, partition=1, offset=42)


class Topic:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, key: bytes, value: bytes) -> None:
        assert key == MSG.topic.encode()
        self.sent.append(decode(value, DeadLetter))


def agg(i: int) -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=f"m{{i=\"{i}\"}}", name="m", host="h", window_start=0.0,
        window_end=10.0, count=1, sum=1.0, min=1.0, max=1.0, mean=1.0, last=1.0,
    )  # fmt: skip


async def run(raw: bytes) -> tuple[Any, Topic, ProcessingGuard]:
    topic, guard = Topic(), ProcessingGuard("test")
    return await decode_batch_or_dead_letter(raw, MSG, topic, guard), topic, guard


async def test_a_good_batch() -> None:
    aggs = [agg(0), agg(1)]
    got, topic, _ = await run(encode(AggregateBatch(id=new_id(), aggregates=aggs)))
    assert got == aggs and topic.sent == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (encode(agg(0)), "unknown_schema"),  # an aggregate, not a batch
        (b'{"schema": "toka.aggregate_batch.v1", "id": "x"}', "missing_field"),
        (b'{"schema": "toka.aggregate_batch.v1", "id": "x", "aggregates": 3}', "wrong_type"),
    ],
)
async def test_a_bad_batch_goes_whole(raw: bytes, reason: str) -> None:
    got, topic, guard = await run(raw)
    assert got is None and guard.counts["decode"] == 1
    (dl,) = topic.sent
    assert dl.reason == reason and base64.b64decode(dl.original_b64) == raw
    assert (dl.source_topic, dl.partition, dl.offset) == (MSG.topic, 1, 42)


async def test_one_bad_aggregate_loses_only_itself() -> None:
    good = [agg(0), agg(2)]
    bad = {**orjson.loads(encode(agg(1))), "count": "many"}
    items = [orjson.loads(encode(good[0])), bad, orjson.loads(encode(good[1]))]
    raw = orjson.dumps({"schema": "toka.aggregate_batch.v1", "id": "b", "aggregates": items})
    got, topic, guard = await run(raw)
    assert got == good and guard.counts["decode_item"] == 1
    (dl,) = topic.sent
    assert dl.reason == "wrong_type" and orjson.loads(base64.b64decode(dl.original_b64)) == bad
