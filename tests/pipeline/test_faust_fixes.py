"""pipeline.faust_fixes against the embedded broker: the seek that ends a rebalance sends
every partition back to its committed offset, or to its start when nothing above 0 is
committed, where aiokafka alone leaves the position wherever a dropped fetch moved it."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from pipeline import faust_fixes
from pipeline.broker import EmbeddedBroker
from schemas import new_id
from tests.support.kafka import publish


async def _consumer_past_five_records(broker: EmbeddedBroker) -> tuple[AIOKafkaConsumer, list]:
    """A group consumer on a 3-partition topic of 5 records each, positioned after them;
    the group committed nothing on partition 0, 0 on partition 1 and 3 on partition 2."""
    topic = f"fix-{new_id()[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    for p in range(3):
        await publish(broker.bootstrap, topic, [(None, b"r%d" % i) for i in range(5)], p)
    tps = [TopicPartition(topic, p) for p in range(3)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=f"g-{topic}",
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    consumer.assign(tps)
    got = 0
    while got < 15:
        got += sum(len(v) for v in (await consumer.getmany(timeout_ms=1000)).values())
    await consumer.commit({tps[1]: OffsetAndMetadata(0, ""), tps[2]: OffsetAndMetadata(3, "")})
    assert [await consumer.position(tp) for tp in tps] == [5, 5, 5]
    return consumer, tps


async def test_partitions_without_a_commit_above_0_go_back_to_their_start(
    broker: EmbeddedBroker,
) -> None:
    consumer, tps = await _consumer_past_five_records(broker)
    try:
        # aiokafka alone: only the partition committed above 0 moves.
        await consumer.seek_to_committed()
        assert [await consumer.position(tp) for tp in tps] == [5, 5, 3]

        committed = await faust_fixes.seek_to_committed_or_start(consumer, lambda tp: True, True)
        assert dict(committed) == {tps[0]: None, tps[1]: 0, tps[2]: 3}
        assert [await consumer.position(tp) for tp in tps] == [0, 0, 3]
    finally:
        await consumer.stop()


async def test_partitions_left_out_keep_their_position(broker: EmbeddedBroker) -> None:
    consumer, tps = await _consumer_past_five_records(broker)
    try:
        await faust_fixes.seek_to_committed_or_start(consumer, lambda tp: tp != tps[0], True)
        assert [await consumer.position(tp) for tp in tps] == [5, 0, 3]
    finally:
        await consumer.stop()


def test_apply_installs_the_seek() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.apply()
    assert AIOKafkaConsumerThread.seek_to_committed is faust_fixes._seek_to_committed
