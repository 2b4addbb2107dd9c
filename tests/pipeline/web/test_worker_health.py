"""/healthz and the crash counters on a real worker process: a stage that fails every
record, then an agent that crashes (the worker reports both and recovers), then an agent
that quietly stops (the worker stays failing)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.broker import EmbeddedBroker
from pipeline.topics import ensure_topics
from pipeline.web.stage import HEALTH_TICK_SECONDS
from schemas import new_id
from schemas.config import TokaConfig
from tests.pipeline.web.crashing_stage import AGENT
from tests.pipeline.web.helpers import http_get, metric_values, wait_until, worker_env
from tests.support.kafka import publish, stop_process

ROOT = Path(__file__).resolve().parents[3]


async def test_liveness_shows_failing_stages_crashed_and_stopped_agents(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    prefix = f"c{new_id()[:6]}."
    env = worker_env(broker, tmp_path, prefix, 2.0)
    cfg = TokaConfig.model_validate(
        {"kafka": {"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix}}
    )
    await ensure_topics(cfg)
    web = f"http://127.0.0.1:{env['TOKA_PIPELINE__WEB_PORT']}"
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.pipeline.web.crashing_stage", "worker"],
            env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    topic = cfg.kafka.topic("benchmarks")

    async def send(*values: bytes) -> None:
        await publish(broker.bootstrap, topic, [(b"k", v) for v in values], partition=0)

    def health() -> tuple[int, dict[str, Any]]:
        status, body = http_get(f"{web}/healthz")
        return status, json.loads(body)

    def metric(name: str, **labels: str) -> float | None:
        values = metric_values(http_get(f"{web}/metrics")[1].decode(), name)
        return values.get(tuple(sorted(labels.items())))

    async def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        return await asyncio.to_thread(wait_until, check, timeout, what)

    try:
        await until(lambda: http_get(f"{web}/readyz")[0] == 200, "worker ready", 40)
        assert health()[0] == 200

        # A stage failing every record, none completing: liveness fails, naming the stage.
        await send(b"fail", b"fail", b"fail")
        status, body = await until(lambda: (h := health())[0] == 503 and h, "503 on errors")
        assert any("stage flaky" in p for p in body["problems"]), body
        assert metric("toka_worker_records_failed_total", stage="flaky") == 3
        assert metric("toka_worker_healthy") == 0
        # Records complete again: healthy.
        await send(b"fine")
        await until(lambda: health()[0] == 200, "200 once records complete")

        # An agent crashes: counted, liveness fails, the restarted actor keeps consuming.
        await send(b"crash")
        status, body = await until(lambda: (h := health())[0] == 503 and h, "503 on crash")
        assert any(f"agent {AGENT}: crashed 1 time" in p for p in body["problems"]), body
        assert "poison record" in body["last_crash"][AGENT]
        assert metric("toka_worker_agent_crashes_total", agent=AGENT) == 1
        await send(b"fine", b"fine")
        await until(
            lambda: metric("toka_worker_records_processed_total", stage="flaky") == 3,
            "the restarted actor to process records",
        )
        # The crash window (6 s here) passes: healthy again, the count stays.
        await until(lambda: health()[0] == 200, "200 after the crash window", 15)
        assert metric("toka_worker_agent_crashes_total", agent=AGENT) == 1

        # An agent that returns is not restarted by Faust: liveness fails for good.
        await send(b"stop")
        status, body = await until(lambda: (h := health())[0] == 503 and h, "503 on stop")
        assert body["problems"] == [f"agent {AGENT}: no running actor"], body
        await asyncio.sleep(HEALTH_TICK_SECONDS + 1)
        assert health()[0] == 503
    finally:
        code = stop_process(proc)
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert code == 0, output[-3000:]


async def test_liveness_fails_on_a_partition_with_records_waiting_and_none_processed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A stage stuck in an await: its partition's records are fetched but none processed
    for ``stall_seconds``: /healthz fails naming the partition, and the stall is counted."""
    prefix = f"s{new_id()[:6]}."
    env = {**worker_env(broker, tmp_path, prefix, 2.0), "TOKA_PIPELINE__STALL_SECONDS": "3"}
    cfg = TokaConfig.model_validate(
        {"kafka": {"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix}}
    )
    await ensure_topics(cfg)
    web = f"http://127.0.0.1:{env['TOKA_PIPELINE__WEB_PORT']}"
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.pipeline.web.crashing_stage", "worker"],
            env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    topic = cfg.kafka.topic("benchmarks")

    def health() -> tuple[int, dict[str, Any]]:
        status, body = http_get(f"{web}/healthz")
        return status, json.loads(body)

    try:
        await asyncio.to_thread(
            wait_until, lambda: http_get(f"{web}/readyz")[0] == 200, 40, "worker ready"
        )
        await publish(broker.bootstrap, topic, [(b"k", b"fine")], partition=1)
        await asyncio.sleep(HEALTH_TICK_SECONDS + 4)  # processed, then quiet: no stall
        assert health()[0] == 200
        await publish(broker.bootstrap, topic, [(b"k", b"hang"), (b"k", b"fine")], partition=1)
        status, body = await asyncio.to_thread(
            wait_until, lambda: (h := health())[0] == 503 and h, 30, "503 on a stall"
        )
        assert any(f"partition {topic}[1]" in p and "no progress" in p
                   for p in body["problems"]), body  # fmt: skip
        values = metric_values(http_get(f"{web}/metrics")[1].decode(),
                               "toka_worker_partition_stalls_total")  # fmt: skip
        assert values[(("partition", "1"), ("topic", topic))] == 1
    finally:
        code = stop_process(proc)
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
