"""The publisher with Kafka unreachable (a real refused connection): everything goes to the
spool, drops past its cap are counted by reason, and shutdown keeps to its timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agents.publish.kafka import KafkaSink, producer_options
from agents.publish.publisher import OutRecord, Publisher
from agents.publish.spool import Spool
from agents.selfmetrics import AgentMetrics
from pipeline.broker import free_port


def _publisher(tmp_path: Path, m: AgentMetrics, spool_bytes: int, policy: str = "oldest"):
    opts = producer_options({"bootstrap_servers": f"127.0.0.1:{free_port()}"}, request_timeout_s=1)
    spool = Spool(tmp_path, spool_bytes, segment_bytes=1024, drop_policy=policy)  # type: ignore[arg-type]
    return Publisher(KafkaSink(opts, timeout_s=1), m, spool=spool, queue_size=5,
                     backoff_s=0.05, max_backoff_s=0.1), spool  # fmt: skip


def _rec(i: int) -> OutRecord:
    return OutRecord("t", b"k", f"{i:06d}".encode().ljust(100, b"."))


@pytest.mark.parametrize("policy", ["oldest", "newest"])
async def test_unreachable_kafka_spools_then_drops_and_counts(tmp_path: Path, policy: str):
    m = AgentMetrics()
    pub, spool = _publisher(tmp_path, m, spool_bytes=20 * 1024, policy=policy)
    pub.start()
    for i in range(400):  # ~48 KB of records into a 20 KB spool
        pub.submit(_rec(i))
    t0 = time.monotonic()
    await pub.close(timeout=1.0)
    assert time.monotonic() - t0 < 5  # shutdown keeps to its timeout with Kafka gone
    dropped = sum(
        m.value("toka_agent_records_dropped_total", reason=r)
        for r in ("spool_full_oldest", "spool_full_newest", "queue_full")
    )
    kept = Spool(tmp_path, 20 * 1024)
    rows = []
    while batch := kept.peek(100):
        rows += [int(v[:6]) for _t, _k, v in batch]
        kept.commit(len(batch))
    assert dropped > 0 and len(rows) + dropped == 400  # every record: on disk or counted
    assert m.value("toka_agent_records_sent_total", topic="t") == 0
    assert rows == sorted(rows)
    if policy == "oldest":
        assert rows[-1] == 399
    else:
        assert rows[0] == 0


async def test_oversized_record_is_dropped_and_counted(tmp_path: Path):
    m = AgentMetrics()
    pub, _ = _publisher(tmp_path, m, spool_bytes=1 << 20)
    pub._max_bytes = 50
    pub.submit(_rec(1))
    assert m.value("toka_agent_records_dropped_total", reason="too_large") == 1
    await pub.close(timeout=0)


@pytest.mark.integration
@pytest.mark.parametrize("via_spool", [False, True])
async def test_a_record_kafka_refuses_is_dropped_not_retried_forever(
    broker,
    topic_prefix: str,
    tmp_path: Path,
    via_spool: bool,  # noqa: ANN001
):
    """The producer allows less than the publisher (a misconfiguration, or a broker with a
    smaller message.max.bytes): the real client refuses the big record for good."""

    m = AgentMetrics()
    opts = producer_options({"bootstrap_servers": broker.bootstrap}, max_record_bytes=1000)
    spool = Spool(tmp_path, 1 << 20)
    pub = Publisher(KafkaSink(opts, timeout_s=5), m, spool=spool, queue_size=100)
    topic = f"{topic_prefix}p"
    big = OutRecord(topic, b"k", b'{"schema":"x","big":"' + b"x" * 200_000 + b'"}')
    small = [OutRecord(topic, b"k", b'{"n":%d}' % i) for i in range(3)]
    if via_spool:  # left by an earlier run: replayed from disk
        for r in (small[0], big, small[1], small[2]):
            spool.append(r.topic, r.key, r.value)
    else:
        for r in (small[0], big, small[1], small[2]):
            pub.submit(r)
    pub.start()
    await pub.close(timeout=10)
    assert m.value("toka_agent_records_dropped_total", reason="rejected_by_kafka") == 1
    assert m.value("toka_agent_records_sent_total", topic=topic) == 3
    consumer_got = await _read_raw(broker.bootstrap, topic, 3)
    assert consumer_got == [r.value for r in small]


async def _read_raw(bootstrap: str, topic: str, n: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await c.start()
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + 10
        while len(out) < n and time.monotonic() < deadline:
            for msgs in (await c.getmany(timeout_ms=300)).values():
                out += [msg.value for msg in msgs]
    finally:
        await c.stop()
    return out


class _StalledProducer:
    """The client at the edge: a broker that stopped answering makes aiokafka raise
    KafkaTimeoutError, which it marks non-retriable although the record is fine."""

    async def send(self, *_args: object, **_kw: object) -> object:
        from aiokafka.errors import KafkaTimeoutError

        raise KafkaTimeoutError()

    async def stop(self) -> None:
        pass


async def test_a_broker_timeout_spools_the_records_not_drops_them(tmp_path: Path):
    m = AgentMetrics()
    pub, spool = _publisher(tmp_path, m, spool_bytes=1 << 20)
    pub._sink._producer = _StalledProducer()  # type: ignore[attr-defined]
    pub.submit(_rec(1))
    pub.start()
    await pub.close(timeout=1.0)
    assert m.value("toka_agent_records_dropped_total", reason="rejected_by_kafka") == 0
    kept = Spool(tmp_path, 1 << 20)
    assert [int(v[:6]) for _t, _k, v in kept.peek(10)] == [1]
