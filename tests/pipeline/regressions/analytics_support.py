"""Run an analytics stage in a real Faust worker process against the test broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import new_id
from schemas.config import TokaConfig
from tests.support.kafka import stop_process

WORKER_MAIN = Path(__file__).with_name("worker_main.py")


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}__{k.upper()}", v, out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)


async def _create_topics(cfg: TokaConfig) -> None:
    """The pipeline's topics plus the analytics stages' own re-keying topics."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from pipeline.anomalies.stage import TOPIC_KINDS as ANOMALIES
    from pipeline.capacity.stage import TOPIC_KINDS as CAPACITY
    from pipeline.regressions.stage import TOPIC_KINDS as REGRESSIONS

    await ensure_topics(cfg)
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    await admin.start()
    try:
        names = [cfg.kafka.topic(k) for k in (*REGRESSIONS, *CAPACITY, *ANOMALIES)]
        await admin.create_topics([NewTopic(n, cfg.pipeline.partitions, 1) for n in names])
    finally:
        await admin.close()


@contextmanager
def stage_worker(
    broker: EmbeddedBroker, stage: str, tmp: Path, analytics: dict[str, object]
) -> Iterator[TokaConfig]:
    """A worker running ``stage`` with ``analytics`` settings; yields the matching config."""
    prefix = f"a{new_id()[:6]}."
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
        "TOKA_TEST_STAGES": stage,
        "PYTHONPATH": os.getcwd(),
    }
    _flatten("TOKA_ANALYTICS", analytics, env)
    asyncio.run(_create_topics(cfg))
    log = tmp / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_MAIN), "worker"],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield cfg
    finally:
        code = stop_process(proc)
        text = log.read_text(errors="replace")
        assert code == 0, f"worker exited with {code}:\n{text[-3000:]}"
        assert "Traceback" not in text, text[-3000:]
