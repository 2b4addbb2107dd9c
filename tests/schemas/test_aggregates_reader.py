"""schemas.read_aggregates: every form of aggregates record gives the same per-series view."""

from __future__ import annotations

import pytest

from schemas import AggregateBatch, DecodeError, MetricBatch, WindowAggregate, encode
from schemas.aggregates import read_aggregates, read_many


def _aggregate(series: str, value: float) -> WindowAggregate:
    return WindowAggregate(
        id=f"id-{series}",
        series=series,
        name="cpu_usage_percent",
        host="web-1",
        window_start=0.0,
        window_end=10.0,
        count=2,
        sum=2 * value,
        min=value,
        max=value,
        mean=value,
        last=value,
        labels={"cpu": "total"},
    )


def test_a_v1_aggregate_reads_as_itself_from_bytes_and_from_the_record() -> None:
    agg = _aggregate("s1", 42.0)
    assert read_aggregates(encode(agg)) == [agg]
    assert read_aggregates(agg) == [agg]
    assert read_aggregates(bytearray(encode(agg))) == [agg]


def test_a_batch_reads_as_its_aggregates_in_order() -> None:
    aggs = [_aggregate("s1", 1.0), _aggregate("s2", 2.0)]
    batch = AggregateBatch(id="b1", aggregates=aggs)
    assert read_aggregates(encode(batch)) == aggs
    assert read_many([encode(batch), encode(aggs[0])]) == [*aggs, aggs[0]]


def test_a_record_of_another_kind_is_refused_with_its_kind() -> None:
    batch = MetricBatch(id="m", host="h", source="system", ts=0.0, samples=[])
    with pytest.raises(DecodeError, match="MetricBatch record holds no aggregates"):
        read_aggregates(encode(batch))


def test_bytes_that_are_no_record_are_a_decode_error() -> None:
    with pytest.raises(DecodeError) as err:
        read_aggregates(b"{not json")
    assert err.value.reason == "not_json"
