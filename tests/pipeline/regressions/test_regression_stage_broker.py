"""The regression stage on the real broker: an injected step in aggregate batches ->
Regression (plain and versioned series), a slower benchmark run -> Regression, bad bytes
-> dead letter. Every record emitted validates against its JSON Schema file. Detector state
survives a clean restart and a SIGKILL, and no batch is applied twice."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.cli.main import main
from pipeline.runtime.state import unwrap
from pipeline.windows import series_id
from schemas import DeadLetter, WindowAggregate, decode, encode, new_id
from schemas.analytics import BenchmarkResult, LatencyStats, Regression
from schemas.jsonschema_files import load
from tests.pipeline.regressions.analytics_support import (
    batches,
    changelog,
    publish_batches,
    stage_worker,
)
from tests.support.kafka import collect, publish

pytestmark = pytest.mark.integration

SETTINGS = {"regressions": {"baseline_windows": 20, "current_windows": 5}, "state_flush_seconds": 1}
STATE = "toka-regression-state"


def aggregates(name: str, labels_at, step_at: int, n: int, seed: int) -> list[WindowAggregate]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labels = labels_at(i)
        p95 = 0.200 * (1.5 if i >= step_at else 1.0) * (1 + 0.03 * rng.standard_normal())
        out.append(
            WindowAggregate(
                id=new_id(), series=series_id("web-1", name, labels), name=name, host="web-1",
                window_start=1000.0 + 10 * i, window_end=1010.0 + 10 * i, count=100,
                sum=10.0, min=0.01, max=0.5, mean=0.1, last=0.1, labels=labels, p95=p95,
            )
        )  # fmt: skip
    return out


def bench(samples: list[float], version: str) -> BenchmarkResult:
    return BenchmarkResult(
        id=new_id(), ts=0.0, benchmark="codec.decode", run_id=new_id(), version=version,
        repeats=len(samples), operations=1000, metric="latency_ms_p50", higher_is_better=False,
        samples=samples, throughput_per_s=1000.0,
        latency_ms=LatencyStats(mean=1, p50=1, p90=1, p95=1, p99=1),
        error_rate=0.0, peak_rss_bytes=1, duration_s=1.0,
    )  # fmt: skip


def test_step_and_slow_benchmark_produce_regressions(
    broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stage_worker(broker, "pipeline.regressions.stage", tmp_path, SETTINGS) as cfg:
        plain = aggregates("http_request_seconds", lambda i: {"route": "/a"}, 30, 45, 1)
        versioned = aggregates(
            "http_request_seconds",
            lambda i: {"route": "/b", "service.version": "1.0" if i < 30 else "1.1"}, 30, 45, 2,
        )  # fmt: skip
        t = cfg.kafka.topic
        publish_batches(cfg, [*batches(sorted(plain + versioned, key=_end)), b"{not json"])
        runs = [
            bench([1.00, 1.02, 0.99, 1.01, 1.00], "a1"),
            bench([1.01, 0.98, 1.00, 1.02, 0.99], "a2"),
            bench([1.40, 1.42, 1.39, 1.41, 1.43], "a3"),
        ]
        asyncio.run(
            publish(cfg.kafka.bootstrap_servers, t("benchmarks"),
                    [(b"codec.decode", encode(r)) for r in runs])
        )  # fmt: skip

        def done(got: list[bytes]) -> bool:
            return len(got) >= 3

        raw = asyncio.run(collect(cfg.kafka.bootstrap_servers, t("regressions"), done, 90))
        dead = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("deadletter"), lambda g: len(g) >= 1, 30)
        )
        # toka baseline list reads the stage's table; reset goes through the stage
        monkeypatch.setenv("TOKA_KAFKA__BOOTSTRAP_SERVERS", cfg.kafka.bootstrap_servers)
        monkeypatch.setenv("TOKA_KAFKA__TOPIC_PREFIX", cfg.kafka.topic_prefix)
        monkeypatch.setenv("TOKA_PIPELINE__APP_ID", cfg.pipeline.app_id)
        capsys.readouterr()
        assert main(["baseline", "list"]) == 0
        listed = capsys.readouterr().out
        subject_a = series_id("web-1", "http_request_seconds", {"route": "/a"})
        assert subject_a in listed and "codec.decode" in listed and "/regression" in listed
        assert main(["baseline", "reset", subject_a]) == 0
        for _ in range(40):
            capsys.readouterr()
            main(["baseline", "list"])
            row = next(ln for ln in capsys.readouterr().out.splitlines() if subject_a in ln)
            if "learning" in row:
                break
            time.sleep(0.5)
        assert "learning" in row and row.split()[3] == "0"

    schema = load("toka.regression.v1")
    for r in raw:
        jsonschema.validate(json.loads(r), schema)
    regs = [decode(r, Regression) for r in raw]
    by_subject = {r.subject: r for r in regs}
    assert len(by_subject) == 3, regs

    a = by_subject[series_id("web-1", "http_request_seconds", {"route": "/a"})]
    assert a.direction == "regression" and a.kind == "series" and a.field == "p95"
    assert a.change_percent > 20 and a.baseline.n == 20
    assert a.method in ("mann_whitney_u", "cusum") and a.p_value < 0.05

    b = by_subject[series_id("web-1", "http_request_seconds", {"route": "/b"})]
    assert (b.baseline_version, b.current_version) == ("1.0", "1.1")

    c = by_subject["codec.decode"]
    assert c.kind == "benchmark" and c.direction == "regression"
    assert c.change_percent == pytest.approx(40, abs=3)

    dl = decode(dead[0], DeadLetter)
    jsonschema.validate(json.loads(dead[0]), load("toka.dead_letter.v1"))
    assert dl.reason == "not_json" and dl.source_topic == t("aggregate-batches")


def test_baseline_survives_a_worker_restart(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """The detector state is in a changelogged table, written behind and flushed on a clean
    stop: a new worker recovers the baseline and reports the step against it, instead of
    learning the step as its new baseline."""
    series = aggregates("db_query_seconds", lambda i: {"db": "main"}, 25, 45, 3)
    with stage_worker(broker, "pipeline.regressions.stage", tmp_path, SETTINGS) as cfg:
        t = cfg.kafka.topic
        publish_batches(cfg, batches(series[:24]))
        _wait_committed(cfg, 24)
    # The successor resumes after these offsets, so it cannot re-learn from the topic:
    # its baseline can only come from the table's changelog.
    prefix = cfg.kafka.topic_prefix
    with stage_worker(broker, "pipeline.regressions.stage", tmp_path, SETTINGS, prefix) as cfg:
        publish_batches(cfg, batches(series[24:]))
        raw = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("regressions"), lambda g: len(g) >= 1, 90)
        )
    reg = decode(raw[0], Regression)
    assert reg.direction == "regression" and reg.baseline.n == 20
    assert reg.baseline_id == "unversioned#0"  # the original baseline, not a re-learned one


def test_a_killed_worker_applies_no_batch_twice(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """SIGKILL once the state is flushed (its offsets may not be committed yet): the
    successor recovers the state with its position and skips any batch it replays, so
    every window is observed exactly once and the step is reported once.

    The first worker is killed before its first offset commit, so the successor replays
    every batch. Its new batches are sent once it has committed past the replay: Faust
    0.15.3 can drop a record fetched while a worker's recovery ends, when the partition
    has no committed offset yet (its final seek does not rewind), so a batch sent during
    start-up could vanish before the stage sees it (1 run in 10 under CPU load).
    Replayed batches are unaffected: the state already holds them."""
    settings = {**SETTINGS, "state_flush_seconds": 0.5}
    series = aggregates("cache_get_seconds", lambda i: {"cache": "l1"}, 25, 45, 4)
    key = f"0|s|{series[0].series}"
    with stage_worker(
        broker, "pipeline.regressions.stage", tmp_path, settings, kill=True, commit_interval=600
    ) as cfg:  # fmt: skip
        publish_batches(cfg, batches(series[:24]))
        changelog(cfg, "toka-analytics-positions", _applied_through(23))
    prefix = cfg.kafka.topic_prefix
    with stage_worker(
        broker, "pipeline.regressions.stage", tmp_path, settings, prefix
    ) as cfg:  # fmt: skip
        _wait_committed(cfg, 24)
        publish_batches(cfg, batches(series[24:]))
        raw = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, cfg.kafka.topic("regressions"),
                    lambda g: len(g) >= 1, 90)
        )  # fmt: skip
        state = changelog(cfg, STATE, lambda s: unwrap(s.get(key, {})).get("seen") == 45)
        time.sleep(2)  # room for a second (wrong) report
        again = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, cfg.kafka.topic("regressions"),
                    lambda g: len(g) >= 1, 10)
        )  # fmt: skip
    assert unwrap(state[key])["seen"] == 45 and len(again) == 1
    reg = decode(raw[0], Regression)
    assert reg.baseline_id == "unversioned#0" and reg.baseline.n == 20


def _end(agg: WindowAggregate) -> float:
    return agg.window_end


def _wait_committed(cfg, n: int, timeout: float = 60.0) -> None:
    topic = cfg.kafka.topic("aggregate-batches")
    deadline = time.monotonic() + timeout
    while (got := asyncio.run(_committed(cfg, topic))) < n:
        assert time.monotonic() < deadline, f"committed {got} of {n}"
        time.sleep(0.5)


async def _committed(cfg, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=cfg.pipeline.app_id,
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        parts = range(cfg.pipeline.partitions)
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in parts])
    finally:
        await consumer.stop()


def _applied_through(last: int):
    """A changelog condition: the regressions position on partition 0 includes ``last``."""

    def check(values: dict) -> bool:
        ranges = unwrap(values.get("0|regressions") or {}).get("ranges", [])
        return bool(ranges) and ranges[-1][1] == last

    return check
