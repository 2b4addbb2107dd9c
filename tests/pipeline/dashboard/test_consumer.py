"""The history consumer on the real broker: a restart resumes with no gap and no
duplicate; a corrupt file is rebuilt from the topics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.dashboard.consumer import HistoryConsumer
from pipeline.dashboard.store import HistoryStore, Retention
from pipeline.topics import ensure_topics
from schemas.codec import encode
from schemas.config import TokaConfig
from tests.pipeline.dashboard.helpers import aggregate, alert, capacity
from tests.support.kafka import publish

pytestmark = pytest.mark.integration


async def _consume_until(cfg: TokaConfig, store: HistoryStore, records: int) -> HistoryConsumer:
    """Run a consumer until it has stored ``records`` Kafka records, and a while longer."""
    consumer = HistoryConsumer(cfg, store)
    task = asyncio.create_task(consumer.run())
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if consumer.records >= records:
                await asyncio.sleep(1.5)  # anything more (a duplicate) would show now
                return consumer
            if task.done():
                task.result()
            await asyncio.sleep(0.2)
        raise AssertionError(f"stored {consumer.records} records, wanted {records}")
    finally:
        consumer.stop()
        await task


async def _publish_aggregates(cfg: TokaConfig, start: float, n: int) -> None:
    records = [
        (f"h{i % 3}".encode(), encode(aggregate(f"h{i % 3}", "cpu", start + 10 * i, float(i))))
        for i in range(n)
    ]
    await publish(cfg.kafka.bootstrap_servers, cfg.kafka.topic("aggregates"), records)


def _config(kafka_config: TokaConfig, tmp_path: Path) -> TokaConfig:
    return kafka_config.model_copy(update={"dashboard": kafka_config.dashboard.model_copy(
        update={"history_file": tmp_path / "h.duckdb", "replica": "test"})})  # fmt: skip


async def test_restart_resumes_with_no_gap_and_no_duplicate(
    kafka_config: TokaConfig, tmp_path: Path
) -> None:
    cfg = _config(kafka_config, tmp_path)
    await ensure_topics(cfg)
    now = time.time()
    await _publish_aggregates(cfg, now - 3000, 30)
    await publish(cfg.kafka.bootstrap_servers, cfg.kafka.topic("alerts"),
                  [(b"f", encode(alert("h1")))])  # fmt: skip
    store = HistoryStore(cfg.dashboard.history_file, Retention(), rollup_width=10.0)
    first = await _consume_until(cfg, store, 31)
    assert first.records == 31
    store.close()

    await _publish_aggregates(cfg, now - 2000, 20)
    store = HistoryStore(cfg.dashboard.history_file, Retention(), rollup_width=10.0)
    second = await _consume_until(cfg, store, 20)
    # the second run read only what came after the first one's last row
    assert second.records == 20
    cur = store.cursor()
    assert cur.execute("SELECT count(*), count(DISTINCT id) FROM raw").fetchone() == (50, 50)
    assert cur.execute("SELECT sum(count) FROM rollup_1m").fetchone() == (100,)
    assert cur.execute("SELECT count(*) FROM alerts").fetchone() == (1,)


async def test_corrupt_history_is_rebuilt_from_the_topics(
    kafka_config: TokaConfig, tmp_path: Path
) -> None:
    cfg = _config(kafka_config, tmp_path)
    await ensure_topics(cfg)
    await _publish_aggregates(cfg, time.time() - 1000, 12)
    await publish(cfg.kafka.bootstrap_servers, cfg.kafka.topic("capacity"),
                  [(b"s", encode(capacity()))])  # fmt: skip
    cfg.dashboard.history_file.write_bytes(b"\x00garbage" * 4096)
    store = HistoryStore(cfg.dashboard.history_file, Retention(), rollup_width=10.0)
    assert store.moved_aside is not None
    await _consume_until(cfg, store, 13)
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM raw").fetchone() == (12,)
    assert cur.execute("SELECT kind FROM findings").fetchall() == [("capacity",)]


def test_records_delivered_again_after_a_seek_are_skipped(
    kafka_config: TokaConfig, tmp_path: Path
) -> None:
    """A rebalance can seek a partition back to the stored offset while later records are
    already on their way to the store; those come again and must not be stored twice."""
    from collections import namedtuple

    from aiokafka import TopicPartition

    record = namedtuple("record", "offset timestamp value")
    cfg = _config(kafka_config, tmp_path)
    store = HistoryStore(cfg.dashboard.history_file, Retention(), rollup_width=10.0)
    consumer = HistoryConsumer(cfg, store)
    tp = TopicPartition(cfg.kafka.topic("aggregates"), 0)

    def polled(offsets: range) -> dict:
        return {tp: [record(o, 0, encode(aggregate("h1", "cpu", 1000.0 + 10 * o, 1.0)))
                     for o in offsets]}  # fmt: skip

    first = consumer._decode(polled(range(5)))
    again = consumer._decode(polled(range(3, 7)))
    assert (first.records, again.records, consumer.skipped_again) == (5, 2, 2)
    assert [a.window_end for a in again.aggregates] == [1050.0, 1060.0]
    assert again.offsets == {(tp.topic, 0): 7}


async def test_without_kafka_the_history_is_still_served_and_the_consumer_waits(
    tmp_path: Path,
) -> None:
    from pipeline.broker import free_port
    from pipeline.dashboard.server import Dashboard

    cfg = TokaConfig(
        kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},  # nothing listens there
        dashboard={"history_file": tmp_path / "h.duckdb", "port": 0,
                   "auth": {"audit_file": tmp_path / "audit.jsonl"}},
    )  # fmt: skip
    dashboard = Dashboard(cfg)
    url = await dashboard.start()
    import aiohttp

    try:
        await asyncio.sleep(1.0)
        assert dashboard._task is not None and not dashboard._task.done()
        async with aiohttp.ClientSession() as http, http.get(url + "api/v1/hosts") as r:
            assert r.status == 200 and await r.json() == []
    finally:
        await asyncio.wait_for(dashboard.stop(), 15)


async def test_a_baseline_change_without_kafka_is_503_and_audited(tmp_path: Path) -> None:
    import orjson

    from pipeline.broker import free_port
    from pipeline.dashboard.server import Dashboard

    cfg = TokaConfig(
        kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
        dashboard={"history_file": tmp_path / "h.duckdb", "port": 0,
                   "auth": {"audit_file": tmp_path / "audit.jsonl"}},
    )  # fmt: skip
    dashboard = Dashboard(cfg, consume=False)
    url = await dashboard.start()
    import aiohttp

    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "api/v1/whoami") as r:
                csrf = (await r.json())["csrf"]
            async with http.post(url + "api/v1/baselines/pin", json={"subject": "s"},
                                 headers={"X-CSRF-Token": csrf}) as r:  # fmt: skip
                assert r.status == 503 and "Kafka unreachable" in (await r.json())["error"]
    finally:
        await asyncio.wait_for(dashboard.stop(), 15)
    record = orjson.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert (record["action"], record["target"], record["outcome"]) == (
        "POST /api/v1/baselines/pin", "s", 503)  # fmt: skip
