"""The pure parts of the worker's counting: the output sensor and the crash log."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline.web.sensor import OutputSensor
from pipeline.web.supervision import MAX_CRASHES_KEPT, CrashLog


def _send(sensor: OutputSensor, topic: str, value: Any) -> None:
    sensor.on_send_initiated(None, topic, SimpleNamespace(value=value), 0, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "counted"),
    [
        (orjson.dumps({"source_topic": "p.metrics", "reason": "late"}), ("metrics", "late")),
        (
            orjson.dumps({"source_topic": "otlp_spans", "reason": "not_json"}),
            ("otlp_spans", "not_json"),
        ),  # fmt: skip
        (b"\x00 not json", ("?", "unknown")),  # counted all the same, never raised
        (orjson.dumps([1, 2]), ("?", "unknown")),
    ],
)
def test_dead_letters_are_counted_by_source_and_reason(value: bytes, counted: tuple) -> None:
    sensor = OutputSensor(deadletter_topic="p.deadletter", alerts_topic="p.alerts", prefix="p.")
    _send(sensor, "p.deadletter", value)
    assert sensor.dead_letters == {counted: 1}
    assert sensor.sent == {"p.deadletter": 1}


def test_alerts_are_counted_by_status_and_severity() -> None:
    sensor = OutputSensor(deadletter_topic="p.deadletter", alerts_topic="p.alerts", prefix="p.")
    firing = {"status": "firing", "labels": {"severity": "critical", "alertname": "X"}}
    _send(sensor, "p.alerts", orjson.dumps(firing))
    _send(sensor, "p.alerts", orjson.dumps(firing))
    _send(sensor, "p.alerts", orjson.dumps({"status": "resolved", "labels": "odd"}))
    _send(sensor, "p.aggregates", b"anything")
    assert sensor.alerts == {("firing", "critical"): 2, ("resolved", ""): 1}
    assert sensor.sent == {"p.alerts": 3, "p.aggregates": 1}
    assert not sensor.dead_letters


def test_crash_log_counts_crashes_but_not_cancellations() -> None:
    now = [100.0]
    log = CrashLog(clock=lambda: now[0])
    log.record("toka-windows", RuntimeError("boom"))
    log.record("toka-windows", asyncio.CancelledError())
    assert log.crashes == {"toka-windows": 1}
    assert log.cancellations == {"toka-windows": 1}
    assert log.recent == [(100.0, "toka-windows")]
    assert log.last_reason["toka-windows"] == "RuntimeError('boom')"


def test_crash_log_keeps_a_bounded_history() -> None:
    log = CrashLog(clock=lambda: 1.0)
    for _ in range(MAX_CRASHES_KEPT + 10):
        log.record("a", ValueError())
    assert len(log.recent) == MAX_CRASHES_KEPT
    assert log.crashes["a"] == MAX_CRASHES_KEPT + 10
