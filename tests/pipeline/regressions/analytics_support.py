"""Run an analytics stage in a real Faust worker process against the test broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import AggregateBatch, WindowAggregate, encode, new_id
from schemas.config import TokaConfig
from tests.support.kafka import publish, stop_process

WORKER_MAIN = Path(__file__).with_name("worker_main.py")


def batches(aggregates: Iterable[WindowAggregate]) -> list[bytes]:
    """AggregateBatch records as the windows stage sends them: one per window close."""
    return [
        encode(AggregateBatch(id=new_id(), aggregates=list(group)))
        for _, group in groupby(aggregates, key=lambda a: a.window_end)
    ]


def publish_batches(cfg: TokaConfig, values: Iterable[bytes], partition: int = 0) -> list[int]:
    """Send records to ``aggregate-batches``, all on ``partition`` as the windows stage
    does for one host; returns their offsets."""
    topic = cfg.kafka.topic("aggregate-batches")
    records: list[tuple[bytes | None, bytes]] = [(None, v) for v in values]
    return asyncio.run(publish(cfg.kafka.bootstrap_servers, topic, records, partition))


def changelog(
    cfg: TokaConfig, table: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    """The latest value of every key of ``table``'s changelog, once ``until`` holds."""
    return asyncio.run(_changelog(cfg, f"{cfg.pipeline.app_id}-{table}-changelog", until, timeout))


async def _changelog(
    cfg: TokaConfig, topic: str, until: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=cfg.kafka.bootstrap_servers, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    latest: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                for m in msgs:
                    k = json.loads(m.key)
                    if m.value is None:
                        latest.pop(k, None)
                    else:
                        latest[k] = json.loads(m.value)
            if until(latest):
                return latest
    finally:
        await consumer.stop()
    raise AssertionError(f"timed out on {topic}: {latest}")


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}__{k.upper()}", v, out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)


@contextmanager
def stage_worker(
    broker: EmbeddedBroker,
    stage: str,
    tmp: Path,
    analytics: dict[str, object],
    prefix: str | None = None,
    *,
    kill: bool = False,
    commit_interval: float = 2.8,
) -> Iterator[TokaConfig]:
    """A worker running ``stage`` with ``analytics`` settings; yields the matching config.

    Pass the ``prefix`` of an earlier worker to run its successor (same topics and app id).
    ``kill``: end it with SIGKILL (no flush, no commit) instead of a clean stop.
    ``commit_interval``: Faust's offset commit interval (its default is 2.8 s).
    """
    prefix = prefix or f"a{new_id()[:6]}."
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 2, "app_id": f"toka-{prefix}"},
        analytics=analytics,
    )
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-{prefix}",
        "TOKA_PIPELINE__PARTITIONS": "2",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__DATA_DIR": str(tmp / "data"),
        "TOKA_TEST_STAGES": stage,
        "PYTHONPATH": os.getcwd(),
        "TOKA_TEST_COMMIT_INTERVAL": str(commit_interval),
    }
    _flatten("TOKA_ANALYTICS", analytics, env)
    asyncio.run(ensure_topics(cfg))  # the stage creates its own extra topics
    log = tmp / f"worker-{new_id()[:4]}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_MAIN), "worker"],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield cfg
    finally:
        if kill:
            proc.kill()
            proc.wait()
        code = 0 if kill else stop_process(proc)
        text = log.read_text(errors="replace")
        assert code == 0, f"worker exited with {code}:\n{text[-3000:]}"
        assert "Traceback" not in text, text[-3000:]
