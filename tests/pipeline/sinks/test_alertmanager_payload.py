"""The sink's pure part: POST bodies, the active set, backoff."""

from __future__ import annotations

import random

import pytest

from pipeline.sinks.alertmanager import active_payloads, alert_key, payload, record
from pipeline.sinks.client import Backoff
from schemas.records import ZERO_TIME, Alert
from tests.pipeline.alerts.alert_helpers import ChangelogDict


def alert(status: str = "firing", severity: str = "critical", **extra: str) -> Alert:
    return Alert(
        id="x", status=status, labels={"alertname": "A", "severity": severity, "host": "h"},
        annotations={"summary": "s"}, startsAt="2026-01-01T00:00:00.000Z",
        endsAt=ZERO_TIME if status == "firing" else "2026-01-01T00:05:00.000Z",
        fingerprint="fp", rule="A", value=1.0, threshold=0.5, **extra,
    )  # fmt: skip


def test_firing_payload_ends_four_resends_ahead():
    body = payload(alert(), now=0.0, resend_seconds=60)
    assert body == {
        "labels": {"alertname": "A", "severity": "critical", "host": "h"},
        "annotations": {"summary": "s"},
        "startsAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "1970-01-01T00:04:00.000Z",
    }


def test_resolved_payload_keeps_its_end_and_generator_url():
    body = payload(alert("resolved", generatorURL="http://toka/x"), now=1e9, resend_seconds=60)
    assert body["endsAt"] == "2026-01-01T00:05:00.000Z"
    assert body["generatorURL"] == "http://toka/x"


def test_active_set_follows_firing_and_resolved():
    states = ChangelogDict()
    record(states, alert())
    record(states, alert(severity="warning"))
    assert len(states) == 2  # Alertmanager tells them apart by labels
    items = active_payloads(states, now=100.0, resend_seconds=10)
    assert {i["labels"]["severity"] for i in items} == {"critical", "warning"}
    assert {i["endsAt"] for i in items} == {"1970-01-01T00:02:20.000Z"}
    record(states, alert("resolved"))
    assert list(states) == [alert_key(alert(severity="warning").labels)]
    record(states, alert("resolved"))  # a second resolve is harmless
    assert len(states) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backoff_grows_with_jitter_up_to_the_cap(seed):
    b = Backoff(first=1.0, cap=8.0, rng=random.Random(seed))
    delays = [b.next() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.next() <= 1.0
