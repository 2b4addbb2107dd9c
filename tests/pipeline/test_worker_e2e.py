"""The worker on the real broker: metrics -> windows -> alerts, bad records -> dead letter.

One real `toka worker` process for the module; each test uses its own host name and its
own metrics partition (the watermark is per partition, so tests cannot move each other's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import orjson
import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import Alert, DeadLetter, MetricBatch, Sample, WindowAggregate, decode, encode, new_id
from schemas.config import TokaConfig
from tests.support.kafka import collect, committed_offset, publish, stop_process, toka_process

WINDOW = 2.0


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokaConfig]:
    prefix = f"w{new_id()[:6]}."
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-test-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "3",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__PARTITIONS": "6",
        "TOKA_PIPELINE__OTLP_SPANS_TOPIC": f"{prefix}otlp_spans",
    }
    tmp = tmp_path_factory.mktemp("worker")
    env["TOKA_PIPELINE__DATA_DIR"] = str(tmp / "data")
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 6, "app_id": env["TOKA_PIPELINE__APP_ID"],
                  "otlp_spans_topic": env["TOKA_PIPELINE__OTLP_SPANS_TOPIC"]},
    )
    asyncio.run(ensure_topics(cfg))
    proc = toka_process(["worker", "--loglevel", "info"], env, tmp / "worker.log")
    try:
        yield cfg
    finally:
        code = stop_process(proc)
        log = (tmp / "worker.log").read_text(errors="replace")
        assert code == 0, f"worker exited with {code}:\n{log[-3000:]}"
        assert "Traceback" not in log, log[-3000:]


def batch(host: str, ts: float, cpu: float, mem: float = 20.0) -> MetricBatch:
    return MetricBatch(
        id=new_id(), host=host, source="system", ts=ts,
        samples=[Sample(name="system_cpu_percent", value=cpu),
                 Sample(name="system_memory_percent", value=mem),
                 Sample(name="system_cpu_core_percent", value=cpu, labels={"core": "0"})],
    )  # fmt: skip


def _window_start(now: float) -> float:
    return (now // WINDOW) * WINDOW


async def test_high_cpu_fires_critical_then_low_cpu_resolves(worker: TokaConfig) -> None:
    host = f"h-{new_id()[:6]}"
    bs, t = worker.kafka.bootstrap_servers, _window_start(time.time())
    key = host.encode()
    await publish(bs, worker.kafka.topic("metrics"), [
        (key, encode(batch(host, t + 0.1, cpu=95))),
        (key, encode(batch(host, t + 0.5, cpu=96))),
    ], partition=0)  # fmt: skip

    def mine(alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if a.labels.get("host") == host]

    def decode_alert(b: bytes) -> Alert:
        return decode(b, Alert)

    alerts_topic = worker.kafka.topic("alerts")
    got = await collect(bs, alerts_topic, lambda a: any(x.status == "firing" for x in mine(a)),
                        timeout=60, decode=decode_alert)  # fmt: skip
    firing = [a for a in mine(got) if a.status == "firing"]
    assert len(firing) == 1
    alert = firing[0]
    assert alert.labels["severity"] == "critical"
    assert alert.labels["alertname"]
    assert alert.endsAt == "0001-01-01T00:00:00Z"
    assert alert.value == pytest.approx(95.5)
    assert alert.threshold == 85

    later = t + 3 * WINDOW
    await publish(bs, worker.kafka.topic("metrics"), [(key, encode(batch(host, later, cpu=10)))],
                  partition=0)  # fmt: skip
    got = await collect(bs, alerts_topic, lambda a: any(x.status == "resolved" for x in mine(a)),
                        timeout=60, decode=decode_alert)  # fmt: skip
    resolved = [a for a in mine(got) if a.status == "resolved"]
    assert len(resolved) == 1
    assert resolved[0].fingerprint == alert.fingerprint
    assert resolved[0].endsAt != "0001-01-01T00:00:00Z"
    assert len([a for a in mine(got) if a.status == "firing"]) == 1  # fired once, not again


async def test_malformed_record_goes_to_dead_letter_and_neighbours_are_aggregated(
    worker: TokaConfig,
) -> None:
    host = f"h-{new_id()[:6]}"
    bs, t = worker.kafka.bootstrap_servers, _window_start(time.time())
    key = host.encode()
    bad = b'{"schema": "toka.metric_batch.v1", "id": "x", "host": 5}'
    await publish(bs, worker.kafka.topic("metrics"), [
        (key, encode(batch(host, t + 0.1, cpu=10))),
        (key, b"\x00not json at all"),
        (key, bad),
        (key, encode(batch(host, t + 0.2, cpu=30))),
    ], partition=1)  # fmt: skip

    dead = await collect(
        bs, worker.kafka.topic("deadletter"),
        lambda d: sum(1 for x in d if x.key_b64 and host in _b64(x.key_b64)) >= 2,
        timeout=60, decode=lambda b: decode(b, DeadLetter),
    )  # fmt: skip
    mine = [d for d in dead if d.key_b64 and host in _b64(d.key_b64)]
    assert {d.reason for d in mine} == {"not_json", "wrong_type"}
    assert {_b64(d.original_b64) for d in mine} == {"\x00not json at all", bad.decode()}
    assert all(d.source_topic == worker.kafka.topic("metrics") for d in mine)

    def cpu_total(aggs: list[WindowAggregate]) -> list[WindowAggregate]:
        return [a for a in aggs if a.host == host and a.name == "system_cpu_percent"]

    aggs = await collect(bs, worker.kafka.topic("aggregates"), lambda a: bool(cpu_total(a)),
                         timeout=60, decode=lambda b: decode(b, WindowAggregate))  # fmt: skip
    (agg,) = cpu_total(aggs)
    assert (agg.count, agg.min, agg.max, agg.mean, agg.last) == (2, 10, 30, 20, 30)
    assert agg.window_start == t and agg.window_end == t + WINDOW
    assert orjson.loads(encode(agg))["schema"] == "toka.window_aggregate.v1"


def _b64(s: str) -> str:
    import base64

    return base64.b64decode(s).decode(errors="replace")




async def test_samples_later_than_grace_go_to_dead_letter_as_late(worker: TokaConfig) -> None:
    host = f"h-{new_id()[:6]}"
    bs, t = worker.kafka.bootstrap_servers, _window_start(time.time())
    key = host.encode()
    late = batch(host, t - 10 * WINDOW, cpu=50)
    await publish(bs, worker.kafka.topic("metrics"), [
        (key, encode(batch(host, t + 0.1, cpu=20))),
        (key, encode(batch(host, t + 3 * WINDOW, cpu=20))),  # watermark well past t - 20
        (key, encode(late)),
        (key, encode(batch(host, t + 3 * WINDOW + 0.2, cpu=40))),
    ], partition=2)  # fmt: skip
    dead = await collect(
        bs, worker.kafka.topic("deadletter"),
        lambda d: any(x.reason == "late" and host in _b64(x.original_b64) for x in d),
        timeout=60, decode=lambda b: decode(b, DeadLetter),
    )  # fmt: skip
    (record,) = [x for x in dead if x.reason == "late" and host in _b64(x.original_b64)]
    late_batch = decode(_b64(record.original_b64).encode(), MetricBatch)
    assert late_batch.host == host
    assert {s.name for s in late_batch.samples} == {s.name for s in late.samples}
    assert late.id in record.error and record.partition == 2
    # The records around it still count: the window after it holds both its samples.
    aggs = await collect(
        bs, worker.kafka.topic("aggregates"),
        lambda a: any(x.host == host and x.window_start == t + 3 * WINDOW
                      and x.name == "system_cpu_percent" for x in a),
        timeout=60, decode=lambda b: decode(b, WindowAggregate),
    )  # fmt: skip
    (agg,) = [x for x in aggs if x.host == host and x.window_start == t + 3 * WINDOW
              and x.name == "system_cpu_percent"]  # fmt: skip
    assert (agg.count, agg.mean) == (2, 30)


async def test_quiet_series_window_still_closes_and_alerts(worker: TokaConfig) -> None:
    """No later record moves this partition's watermark: only the idle timeout closes it."""
    host = f"h-{new_id()[:6]}"
    bs = worker.kafka.bootstrap_servers
    sent = time.time()
    await publish(bs, worker.kafka.topic("metrics"),
                  [(host.encode(), encode(batch(host, sent, cpu=99)))], partition=3)
    aggs = await collect(
        bs, worker.kafka.topic("aggregates"),
        lambda a: any(x.host == host and x.name == "system_cpu_percent" for x in a),
        timeout=30, decode=lambda b: decode(b, WindowAggregate),
    )  # fmt: skip
    waited = time.time() - sent
    (agg,) = [x for x in aggs if x.host == host and x.name == "system_cpu_percent"]
    assert (agg.count, agg.max) == (1, 99)
    assert waited >= 3  # idle_close_seconds: it was the idle timer, not a watermark
    alerts = await collect(
        bs, worker.kafka.topic("alerts"),
        lambda a: any(x.labels.get("host") == host for x in a),
        timeout=30, decode=lambda b: decode(b, Alert),
    )  # fmt: skip
    assert [a.status for a in alerts if a.labels.get("host") == host] == ["firing"]


async def test_offsets_are_not_committed_past_a_record_of_an_open_window(
    worker: TokaConfig,
) -> None:
    """A bad record after a good one is dead-lettered at once, but the commit must stay at
    the good record until its window closes, or a crash would lose its samples."""
    host = f"h-{new_id()[:6]}"
    bs, t = worker.kafka.bootstrap_servers, _window_start(time.time())
    metrics = worker.kafka.topic("metrics")
    first_good, bad = await publish(bs, metrics, [
        (host.encode(), encode(batch(host, t + WINDOW + 0.1, cpu=10))),
        (host.encode(), b"not json"),
    ], partition=1)  # fmt: skip
    await collect(bs, worker.kafka.topic("deadletter"),
                  lambda d: any(x.offset == bad and x.partition == 1 for x in d),
                  timeout=30, decode=lambda b: decode(b, DeadLetter))  # fmt: skip
    await asyncio.sleep(3.5)  # past Faust's commit interval (2.8 s)
    group = worker.pipeline.app_id
    committed = await committed_offset(bs, group, metrics, 1)
    assert committed is None or committed <= first_good
    # Once the window has closed (idle close), the commit moves past both.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        committed = await committed_offset(bs, group, metrics, 1)
        if committed is not None and committed > bad:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"commit stuck at {committed}, records at {first_good} and {bad}")


async def test_a_source_with_an_interval_closes_its_window_without_waiting(
    worker: TokaConfig,
) -> None:
    """The agent's promise (next collection in `interval` s) closes the window at once:
    neither the wall clock, nor a later record, nor the idle timeout is needed."""
    host = f"h-{new_id()[:6]}"
    bs = worker.kafka.bootstrap_servers
    # Its window ends about 20 s from now: not by the watermark (the record itself), and
    # within max_clock_skew_seconds (30), as far as a promise may reach.
    ts = _window_start(time.time()) + 10 * WINDOW + 0.1
    record = MetricBatch(id=new_id(), host=host, source="system", ts=ts, interval=5.0,
                         samples=[Sample(name="system_cpu_percent", value=91)])  # fmt: skip
    sent = time.time()
    await publish(bs, worker.kafka.topic("metrics"), [(host.encode(), encode(record))],
                  partition=4)  # fmt: skip
    alerts = await collect(bs, worker.kafka.topic("alerts"),
                           lambda a: any(x.labels.get("host") == host for x in a),
                           timeout=30, decode=lambda b: decode(b, Alert))  # fmt: skip
    waited = time.time() - sent
    assert waited < 2.5, f"{waited:.1f} s: closed by the idle timeout, not the promise"
    (alert,) = [a for a in alerts if a.labels.get("host") == host]
    assert (alert.status, alert.labels["severity"]) == ("firing", "critical")


def test_librdkafka_incident_tooling_reads_a_firing_and_a_resolved_alert(
    worker: TokaConfig,
) -> None:
    """Incident tooling in most languages uses librdkafka: confluent-kafka (librdkafka 2.16)
    consumes the alerts topic in a consumer group, as such tooling would, and commits."""
    from confluent_kafka import Consumer, TopicPartition

    host = f"h-{new_id()[:6]}"
    bs, t = worker.kafka.bootstrap_servers, _window_start(time.time())
    key = host.encode()
    metrics = worker.kafka.topic("metrics")
    asyncio.run(publish(bs, metrics, [(key, encode(batch(host, t + 0.1, cpu=97)))], partition=5))
    asyncio.run(
        publish(bs, metrics, [(key, encode(batch(host, t + 3 * WINDOW, cpu=5)))], partition=5)
    )
    alerts_topic = worker.kafka.topic("alerts")
    group = f"incident-tooling-{new_id()[:6]}"
    consumer = Consumer({
        "bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([alerts_topic])
    mine: list[Alert] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and {a.status for a in mine} != {"firing", "resolved"}:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            alert = decode(msg.value(), Alert)
            assert msg.key() == alert.fingerprint.encode()
            if alert.labels.get("host") == host:
                mine.append(alert)
        assert [a.status for a in mine] == ["firing", "resolved"], mine
        assert mine[0].fingerprint == mine[1].fingerprint
        assert mine[0].labels["severity"] == "critical"
        consumer.commit(asynchronous=False)
        committed = consumer.committed(
            [TopicPartition(alerts_topic, p) for p in range(6)], timeout=30
        )
        assert sum(max(tp.offset, 0) for tp in committed) > 0
    finally:
        consumer.close()
