"""`toka topics tail KIND` prints any topic's records, on the real broker, as a user runs it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from schemas import AggregateBatch, DeadLetter, WindowAggregate, encode
from schemas.analytics import Regression, SummaryStats
from tests.support.kafka import publish

pytestmark = pytest.mark.integration


def _aggregate(host: str, value: float) -> WindowAggregate:
    return WindowAggregate(
        id=f"a-{host}", series=f"{host}|cpu", name="system_cpu_percent", host=host,
        window_start=1_700_000_000.0, window_end=1_700_000_010.0, count=2, sum=2 * value,
        min=value, max=value, mean=value, last=value,
    )  # fmt: skip


def _tail(kind: str, kafka_config, *extra: str) -> list[str]:
    env = {
        **os.environ,
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": kafka_config.kafka.bootstrap_servers,
        "TOKA_KAFKA__TOPIC_PREFIX": kafka_config.kafka.topic_prefix,
    }
    argv = [sys.executable, "-m", "pipeline.cli.main", "topics", "tail", kind, *extra]
    done = subprocess.run(
        [*argv, "--from-beginning"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_aggregates_in_either_form_print_one_line_per_series(kafka_config) -> None:
    topic = kafka_config.kafka.topic("aggregates")
    batch = AggregateBatch(id="b", aggregates=[_aggregate("web-2", 20.0), _aggregate("web-3", 30)])
    records = [(b"k1", encode(_aggregate("web-1", 10.0))), (b"k2", encode(batch))]
    asyncio.run(publish(kafka_config.kafka.bootstrap_servers, topic, records, partition=0))
    lines = _tail("aggregates", kafka_config, "--max", "2")
    assert len(lines) == 3
    assert [line.split()[2] for line in lines] == ["web-1", "web-2", "web-3"]
    assert "system_cpu_percent" in lines[0] and "mean=10" in lines[0]


def test_dead_letters_and_findings_print_a_line_each_and_json_the_raw_bytes(kafka_config):
    bootstrap = kafka_config.kafka.bootstrap_servers
    dead = DeadLetter(
        id="d", reason="late", error="2 sample(s) too old", source_topic="t.metrics", ts=0.0,
        partition=1, offset=7, original_b64="",
    )  # fmt: skip
    asyncio.run(publish(bootstrap, kafka_config.kafka.topic("deadletter"), [(b"m", encode(dead))]))
    (line,) = _tail("deadletter", kafka_config, "--max", "1")
    assert "DEAD LETTER late" in line and "t.metrics[1]@7" in line
    assert _tail("deadletter", kafka_config, "--max", "1", "--json") == [encode(dead).decode()]

    stats = SummaryStats(n=30, mean=10.0, p50=10.0, p95=12.0)
    regression = Regression(
        id="r", ts=0.0, kind="series", subject="web-1|latency", field="mean",
        direction="regression", baseline=stats, current=stats, change_percent=31.5,
        p_value=0.001, effect_size=2.0, method="welch", severity="major",
        baseline_version="v1", baseline_id="b1",
    )  # fmt: skip
    topic = kafka_config.kafka.topic("regressions")
    asyncio.run(publish(bootstrap, topic, [(b"web-1|latency", encode(regression))]))
    (line,) = _tail("regressions", kafka_config, "--max", "1")
    assert line.startswith("Regression ") and "change_percent=31.5" in line
    assert "severity=major" in line and "subject=web-1|latency" in line


def test_an_unknown_kind_is_refused_with_the_kinds_there_are() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "topics", "tail", "nonsense"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "aggregates" in done.stderr and "deadletter" in done.stderr
