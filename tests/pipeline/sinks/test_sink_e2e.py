"""End to end: metrics on the real broker -> `toka worker` (windows, rules, Alertmanager
sink) -> a real Alertmanager, where the alert shows and later resolves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from pipeline.broker import free_port
from pipeline.topics import ensure_topics
from schemas import DeadLetter, MetricBatch, Sample, decode, encode, new_id
from schemas.config import TokaConfig
from tests.support.kafka import collect, publish, stop_process, toka_process

pytestmark = [pytest.mark.integration, pytest.mark.peers]

WINDOW = 2.0


def batch(host: str, ts: float, cpu: float) -> MetricBatch:
    return MetricBatch(
        id=new_id(), host=host, source="system", ts=ts,
        samples=[Sample(name="system_cpu_percent", value=cpu)],
    )  # fmt: skip


async def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_alert_reaches_alertmanager_and_resolves(broker, alertmanager, tmp_path):
    prefix = f"s{new_id()[:6]}."
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-sink-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "3",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "data"),
        "TOKA_PIPELINE__ALERTMANAGER_URLS": f'["{alertmanager.url}"]',
        "TOKA_PIPELINE__ALERTMANAGER_RESEND_SECONDS": "2",
    }
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
                     pipeline={"partitions": 4})  # fmt: skip
    await ensure_topics(cfg)
    proc = toka_process(["worker", "--loglevel", "info"], env, tmp_path / "worker.log")
    host = f"h-{new_id()[:6]}"

    def mine() -> list[dict]:
        return [a for a in alertmanager.alerts() if a["labels"].get("host") == host]

    log_file = tmp_path / "worker.log"
    try:
        # samples stamped before the worker runs would be late for their window
        await wait_for(lambda: "Worker]: Ready" in log_file.read_text(errors="replace"), 60,
                       "the worker to be ready")  # fmt: skip
        t = (time.time() // WINDOW) * WINDOW
        # Someone else's record on the alerts topic: dead-lettered, and the sink goes on.
        alerts_topic = cfg.kafka.topic("alerts")
        await publish(broker.bootstrap, alerts_topic, [(b"x", b"not an alert")], partition=0)
        topic, key = cfg.kafka.topic("metrics"), host.encode()
        await publish(broker.bootstrap, topic, [(key, encode(batch(host, t + 0.1, 95)))])
        (shown,) = await wait_for(mine, 60, "the firing alert in Alertmanager")
        assert shown["labels"]["alertname"] == "HostCpuHigh"
        assert shown["labels"]["severity"] == "critical"
        assert shown["status"]["state"] == "active"
        assert "95.0%" in shown["annotations"]["summary"]
        first_update = shown["updatedAt"]
        # the active alert is re-sent (resend 2 s): Alertmanager sees it updated
        await wait_for(lambda: [a for a in mine() if a["updatedAt"] != first_update], 15,
                       "a re-send of the active alert")  # fmt: skip
        await publish(broker.bootstrap, topic, [(key, encode(batch(host, t + 3 * WINDOW, 10)))])
        await wait_for(lambda: not mine(), 60, "the alert to resolve in Alertmanager")
    finally:
        code = stop_process(proc)
        log = log_file.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    dead = await collect(
        broker.bootstrap, cfg.kafka.topic("deadletter"),
        lambda got: any(d.source_topic == alerts_topic for d in got),
        timeout=30, decode=lambda v: decode(v, DeadLetter),
    )  # fmt: skip
    (letter,) = [d for d in dead if d.source_topic == alerts_topic]
    assert letter.reason == "not_json" and letter.partition == 0
