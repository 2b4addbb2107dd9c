"""The HTTP client against a real Alertmanager: delivery, resolve, retry while down."""

from __future__ import annotations

import asyncio
import time

import pytest

from pipeline.broker import free_port
from pipeline.sinks.alertmanager import payload
from pipeline.sinks.client import AlertmanagerClient, Backoff
from schemas.records import ZERO_TIME, Alert
from tests.pipeline.sinks.am_support import start_alertmanager, stop

pytestmark = pytest.mark.peers


def alert(status: str, name: str = "TokaTest") -> Alert:
    now = time.time()
    return Alert(
        id="x", status=status, labels={"alertname": name, "severity": "critical", "host": "h1"},
        annotations={"summary": "cpu high"}, startsAt="2026-01-01T00:00:00.000Z",
        endsAt=ZERO_TIME if status == "firing" else time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 1)),
        fingerprint="fp", rule=name, value=95.0, threshold=85.0,
    )  # fmt: skip


def fast() -> Backoff:
    return Backoff(first=0.05, cap=0.2)


async def test_firing_shows_then_resolved_goes(alertmanager):
    client = AlertmanagerClient([alertmanager.url], backoff=fast)
    try:
        assert await client.deliver([payload(alert("firing"), time.time(), 60)])
        (shown,) = alertmanager.alerts()
        assert shown["labels"] == {"alertname": "TokaTest", "severity": "critical", "host": "h1"}
        assert shown["status"]["state"] == "active"
        assert shown["annotations"] == {"summary": "cpu high"}
        assert await client.deliver([payload(alert("resolved"), time.time(), 60)])
        assert alertmanager.alerts() == []
        assert client.counts["posted"] == 2
    finally:
        await client.close()


async def test_retries_until_alertmanager_comes_up(tmp_path):
    port = free_port()
    client = AlertmanagerClient([f"http://127.0.0.1:{port}"], timeout=2, backoff=fast)
    task = asyncio.create_task(client.deliver([payload(alert("firing"), time.time(), 60)]))
    await asyncio.sleep(1.0)
    assert not task.done() and client.counts["failed_attempts"] >= 3
    proc = await asyncio.to_thread(start_alertmanager, tmp_path, port)
    try:
        assert await asyncio.wait_for(task, 20)
        from tests.pipeline.sinks.am_support import Alertmanager

        shown = Alertmanager(f"http://127.0.0.1:{port}", port).alerts()
        assert [a["labels"]["alertname"] for a in shown] == ["TokaTest"]
    finally:
        await client.close()
        stop(proc)


async def test_one_of_two_down_does_not_block(alertmanager):
    sleeps: list[float] = []

    async def sleep(d: float) -> None:
        sleeps.append(d)

    dead = f"http://127.0.0.1:{free_port()}"
    client = AlertmanagerClient([dead, alertmanager.url], timeout=2, sleep=sleep, extra_attempts=2)
    try:
        assert await client.deliver([payload(alert("firing"), time.time(), 60)])
        assert len(alertmanager.alerts()) == 1
        # two more tries for the dead one, then the periodic resend covers it
        assert len(sleeps) == 2 and client.counts["failed_attempts"] == 3
    finally:
        await client.close()


async def test_bad_request_is_dropped_not_retried(alertmanager):
    client = AlertmanagerClient([alertmanager.url], backoff=fast)
    try:
        bad = {"labels": {}, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z"}
        assert await client.deliver([bad]) is False
        assert client.counts["rejected"] == 1 and client.counts["failed_attempts"] == 0
    finally:
        await client.close()
