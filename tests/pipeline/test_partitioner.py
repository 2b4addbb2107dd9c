"""The caching partitioner picks exactly the partitions Kafka's default partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from pipeline.partitioner import CachingPartitioner


def test_same_partitions_as_the_default_partitioner_across_partition_counts() -> None:
    ours, theirs = CachingPartitioner(max_keys=50), DefaultPartitioner()
    keys = [f"series-{i}".encode() for i in range(200)] * 2  # repeats hit the cache
    for n in (1, 3, 4, 12):
        parts = list(range(n))
        assert [ours(k, parts, parts) for k in keys] == [theirs(k, parts, parts) for k in keys]


def test_memory_stays_bounded() -> None:
    ours = CachingPartitioner(max_keys=10)
    for i in range(1000):
        ours(str(i).encode(), [0, 1], [0, 1])
    assert len(ours._hashes) <= 10


def test_unkeyed_records_go_to_an_available_partition() -> None:
    assert CachingPartitioner()(None, [0, 1, 2], [2]) == 2
