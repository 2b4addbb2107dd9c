"""A latency step becomes a regression and, through the default finding rule
(TokaRegression), an alert on toka.alerts, in a real worker on the embedded broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import Alert, MetricBatch, Sample, decode, encode, new_id
from schemas.config import TokaConfig
from tests.pipeline.web.helpers import http_get, wait_until
from tests.support.kafka import collect, publish, stop_process, toka_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WINDOW = 2.0
TICK = 0.5
TICKS = 44
STEP = 24  # latency 100 -> 150 ms (+50%) from this tick on
T0 = (time.time() // 60) * 60 - 3600  # an hour ago: windows close on the watermark alone


def _batch(tick: int) -> MetricBatch:
    latency = 150.0 if tick >= STEP else 100.0 + tick % 2
    return MetricBatch(
        id=new_id(), host="fr-1", source="system", ts=T0 + tick * TICK,
        samples=[Sample(name="app_latency_ms", value=latency, labels={"route": "/cart"})],
    )  # fmt: skip


async def test_latency_step_pages_through_the_default_regression_rule(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    prefix = f"fr{new_id()[:5]}."
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "600",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__PARTITIONS": "1",
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "data"),
        "TOKA_ANALYTICS__STATE_FLUSH_SECONDS": "1",
        "TOKA_ANALYTICS__REGRESSIONS__SERIES": '["app_latency_ms"]',
        "TOKA_ANALYTICS__REGRESSIONS__BASELINE_WINDOWS": "5",
        "TOKA_ANALYTICS__REGRESSIONS__CURRENT_WINDOWS": "3",
        "TOKA_ANALYTICS__REGRESSIONS__P_VALUE": "0.05",
    }
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 1},
    )
    await ensure_topics(cfg)
    worker = toka_process(["worker"], env, tmp_path / "worker.log")
    try:
        url = f"http://127.0.0.1:{env['TOKA_PIPELINE__WEB_PORT']}/readyz"
        await asyncio.to_thread(wait_until, lambda: http_get(url)[0] == 200, 120, "ready")
        topic = cfg.kafka.topic("metrics")
        for tick in [*range(TICKS), TICKS + 20]:  # the last closes every window above
            await publish(broker.bootstrap, topic, [(b"fr-1", encode(_batch(tick)))])
            await asyncio.sleep(0.1)
        alerts = await collect(
            broker.bootstrap, cfg.kafka.topic("alerts"),
            lambda got: any(a.rule == "TokaRegression" for a in got),
            timeout=120, decode=lambda v: decode(v, Alert),
        )  # fmt: skip
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    (alert,) = [a for a in alerts if a.rule == "TokaRegression"]
    assert alert.status == "firing" and alert.labels["severity"] == "warning"
    assert alert.labels["name"] == "app_latency_ms" and alert.labels["host"] == "fr-1"
    assert alert.labels["route"] == "/cart"
    assert alert.value >= 20.0
    assert "regressed" in alert.annotations["summary"]
