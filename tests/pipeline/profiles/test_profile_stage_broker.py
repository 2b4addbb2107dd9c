"""The profiles stage in a real ``toka worker`` on the real broker: a ProfileReport with a
known hot function on ``toka.profiles`` -> a ProfileFinding naming it, keyed by the host,
on the same topic (valid against its JSON Schema file), and only one: the stage does not
take its own finding, or the session's status record, as input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import decode, encode, new_id
from schemas.config import TokaConfig
from schemas.jsonschema_files import load
from schemas.profiles import ProfileFinding, ProfileStatus
from tests.pipeline.profiles.report_support import cpu_report
from tests.support.kafka import publish, stop_process, toka_process

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[TokaConfig]:
    prefix = f"p{new_id()[:6]}."
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-test-{prefix}",
        "TOKA_PIPELINE__PARTITIONS": "2",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "data"),
        "TOKA_PIPELINE__OTLP_SPANS_TOPIC": f"{prefix}otlp_spans",
        "TOKA_PERFORMANCE__PROFILING_ENABLED": "true",
        "TOKA_ANALYTICS__STATE_FLUSH_SECONDS": "1",
    }
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 2, "app_id": env["TOKA_PIPELINE__APP_ID"]},
    )
    asyncio.run(ensure_topics(cfg))
    log = tmp_path / "worker.log"
    proc = toka_process(["worker", "--loglevel", "info"], env, log)
    try:
        yield cfg
    finally:
        code = stop_process(proc)
        text = log.read_text(errors="replace")
        assert code == 0, f"worker exited with {code}:\n{text[-3000:]}"
        assert "Traceback" not in text, text[-3000:]


Keyed = list[tuple[bytes, bytes]]


async def read_keyed(bs: str, topic: str, until: Callable[[Keyed], bool], timeout: float) -> Keyed:
    """(key, value) of every record of ``topic`` from the start, once ``until`` holds or
    ``timeout`` passed (the caller asserts on what it got)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bs, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    got: Keyed = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(got):
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                got.extend((m.key, m.value) for m in msgs)
    finally:
        await consumer.stop()
    return got


def test_report_with_hot_function_gives_a_finding_on_the_topic(worker: TokaConfig) -> None:
    bs, topic = worker.kafka.bootstrap_servers, worker.kafka.topic("profiles")
    report = cpu_report("web-7")
    status = ProfileStatus(id=new_id(), ts=101.0, host="web-7", session=report.session,
                           state="done")  # fmt: skip
    asyncio.run(publish(bs, topic, [(b"web-7", encode(report)), (b"web-7", encode(status))]))

    def findings(records: Keyed) -> list[tuple[bytes, ProfileFinding]]:
        out = [(key, decode(value)) for key, value in records]
        return [(key, r) for key, r in out if isinstance(r, ProfileFinding)]

    got = asyncio.run(read_keyed(bs, topic, lambda rs: bool(findings(rs)), timeout=90.0))
    [(key, finding)] = findings(got)
    assert key == b"web-7"
    assert (finding.kind, finding.subject, finding.session, finding.host) == (
        "bottleneck", "hot_function (target_app.py)", report.session, "web-7",
    )  # fmt: skip
    assert "hot_function" in finding.summary and finding.share == 0.7
    jsonschema.validate(json.loads(encode(finding)), load("toka.profile_finding.v1"))
    # a while later still one: its own finding was read back and passed over
    again = asyncio.run(read_keyed(bs, topic, lambda rs: False, timeout=8.0))
    assert len(findings(again)) == 1
