"""Alert state survives a SIGKILL of the worker: on the real broker, a `toka worker` that
fired an alert is killed with SIGKILL; its successor (recovering the state table from
the changelog) does not fire it again while the CPU stays high, and resolves it once the
CPU drops."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from pipeline.broker import free_port
from pipeline.topics import ensure_topics
from schemas import Alert, MetricBatch, Sample, decode, encode, new_id
from schemas.config import TokaConfig
from tests.support.kafka import collect, publish, stop_process, toka_process

pytestmark = pytest.mark.integration

WINDOW = 2.0


def batch(host: str, ts: float, cpu: float) -> MetricBatch:
    return MetricBatch(
        id=new_id(),
        host=host,
        source="system",
        ts=ts,
        samples=[Sample(name="system_cpu_percent", value=cpu)],
    )


async def wait_ready(log, proc, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while "Worker]: Ready" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "worker not ready"
        await asyncio.sleep(0.2)


async def test_sigkilled_worker_neither_refires_nor_forgets(broker, tmp_path):
    prefix = f"k{new_id()[:6]}."
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-kill-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "3",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "data"),
    }
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 2},
    )
    await ensure_topics(cfg)
    bs, metrics, alerts = broker.bootstrap, cfg.kafka.topic("metrics"), cfg.kafka.topic("alerts")
    host = f"h-{new_id()[:6]}"
    key = host.encode()

    def mine(records: list[Alert]) -> list[tuple[str, str]]:
        return [(a.status, a.labels["severity"]) for a in records if a.labels.get("host") == host]

    def dec(b: bytes) -> Alert:
        return decode(b, Alert)

    log1 = tmp_path / "worker1.log"
    first = toka_process(["worker", "--loglevel", "info"], env, log1)
    try:
        await wait_ready(log1, first)
        t = (time.time() // WINDOW) * WINDOW
        await publish(bs, metrics, [(key, encode(batch(host, t + 0.1, 95)))])
        await collect(bs, alerts, lambda a: mine(a) == [("firing", "critical")], 60, dec)
        await asyncio.sleep(3.5)  # past a commit interval (2.8 s): the state is changelogged
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

    log2 = tmp_path / "worker2.log"
    second = toka_process(["worker", "--loglevel", "info"], env, log2)
    try:
        await wait_ready(log2, second)
        now = time.time()
        # still high: must not fire again; then low: must resolve
        await publish(
            bs,
            metrics,
            [(key, encode(batch(host, now, 97))), (key, encode(batch(host, now + WINDOW, 96)))],
        )
        await asyncio.sleep(2 * WINDOW + 2)
        await publish(bs, metrics, [(key, encode(batch(host, now + 3 * WINDOW, 10)))])
        got = await collect(bs, alerts, lambda a: ("resolved", "critical") in mine(a), 60, dec)
        await asyncio.sleep(1)
        got = await collect(bs, alerts, lambda a: len(a) >= len(got), 10, dec)
        assert mine(got) == [("firing", "critical"), ("resolved", "critical")]
    finally:
        code = stop_process(second)
        log = log2.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
