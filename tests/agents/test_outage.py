"""The broker goes away for 20+ seconds while the agent runs; nothing collected is lost.

Tansu keeps topics in memory, so the records acked before the outage are read before the
broker stops and the rest are read from the restarted broker: together they must hold every
record the agent collected, each id at least once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from agents.runtime import AgentRuntime
from pipeline.broker import EmbeddedBroker
from schemas.config import load_config
from tests.agents._support import agent_config_file, read_topic, read_topic_sync

pytestmark = pytest.mark.integration

INTERVAL = 2.0
OUTAGE = 21.0


async def _wait(cond, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(120)
async def test_broker_outage_loses_nothing(
    fresh_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    cfg = load_config(
        agent_config_file(
            tmp_path, fresh_broker.bootstrap, topic_prefix,
            sources={"system": {"interval_seconds": INTERVAL, "top_processes": 0}},
            publisher={"request_timeout_seconds": 2, "max_backoff_seconds": 1},
        )
    )  # fmt: skip
    topic = cfg.kafka.topic("metrics")
    runtime = AgentRuntime(cfg)
    m = runtime.metrics
    sent = lambda: m.value("toka_agent_records_sent_total", topic=topic)  # noqa: E731

    stop = asyncio.Event()
    run = asyncio.create_task(runtime.run(stop))
    before: list[str] = []
    try:
        await _wait(lambda: sent() >= 2, 20, "the first records")
        # Stop the broker once everything acked so far was read back. The reader runs on a
        # thread of its own and is finished when it returns; the agent runs on this event
        # loop, so nothing can be acked between the last check and the kill below.
        while True:
            n = sent()
            got = await asyncio.to_thread(read_topic_sync, fresh_broker.bootstrap, topic, expect=n)
            before = [b.id for _, b in got]
            if sent() == n and len(before) >= n:
                break
        # SIGKILL, as in a crash: on SIGTERM Tansu keeps acking for ~5 s while it shuts
        # down and then forgets those records (in-memory), which no client could prevent.
        assert fresh_broker.pid is not None
        os.kill(fresh_broker.pid, signal.SIGKILL)
        await asyncio.to_thread(fresh_broker.stop)
        down_at = time.time()

        await asyncio.sleep(OUTAGE)
        spooled_during_outage = m.value("toka_agent_records_spooled_total")
        assert spooled_during_outage >= OUTAGE / INTERVAL - 2
        assert m.value("toka_agent_broker_up") == 0
        assert list((tmp_path / "spool").glob("*.seg")), "outage records must be on disk"

        await asyncio.to_thread(fresh_broker.start)
        up_at = time.time()
        await _wait(lambda: runtime.publisher.pending == 0, 30, "the spool to drain")
    finally:
        stop.set()
        await run
    collected = int(m.value("toka_agent_records_collected_total", source="system"))

    after = await read_topic(fresh_broker.bootstrap, topic, expect=collected - len(before))
    after_ids = [b.id for _, b in after]
    all_ids = set(before) | set(after_ids)
    assert len(all_ids) == collected, (len(all_ids), collected)  # every record, none lost
    during = [b for _, b in after if down_at <= b.ts <= up_at]
    assert len(during) >= OUTAGE / INTERVAL - 2  # the outage's records came from the spool
    ts_after = [b.ts for _, b in after]
    assert ts_after == sorted(ts_after)  # replayed in collection order
    assert m.value("toka_agent_records_dropped_total", reason="spool_full_oldest") == 0
    assert m.value("toka_agent_records_replayed_total") >= len(during)


async def test_agent_starts_over_a_corrupt_spool_and_replays_the_good_records(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    from agents.batch import metric_batch, metric_record
    from agents.publish.spool import Spool
    from schemas.records import Sample

    cfg = load_config(agent_config_file(tmp_path, broker.bootstrap, topic_prefix))
    topic = cfg.kafka.topic("metrics")
    old = Spool(tmp_path / "spool", max_bytes=1 << 20)
    ids = []
    for i in range(6):  # what a crashed agent left behind
        b = metric_batch("test-host", "system", [Sample(name="x", value=i)], float(i), {})
        r = metric_record(topic, b)
        old.append(r.topic, r.key, r.value)
        ids.append(b.id)
    old.close()
    [seg] = (tmp_path / "spool").glob("*.seg")
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the middle
    seg.write_bytes(bytes(data[:-7]))  # and a torn last record (power loss)

    runtime = AgentRuntime(cfg)
    assert await runtime.run_once() == 0
    got = await read_topic(broker.bootstrap, topic, expect=5)
    got_ids = [b.id for _, b in got]
    replayed = [i for i in got_ids if i in ids]
    assert 3 <= len(replayed) <= 4 and replayed == [i for i in ids if i in replayed]
    assert len(got_ids) == len(replayed) + 1  # plus this run's own collection
    assert runtime.metrics.value("toka_agent_spool_corrupt_regions_total") >= 2
    assert not list((tmp_path / "spool").glob("*.seg"))
