"""The batch record the analytics stages read is built from already encoded aggregates."""

from __future__ import annotations

import jsonschema
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
