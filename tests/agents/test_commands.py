"""The command trust gate: the component's local configuration has the final word."""

from __future__ import annotations

import logging

import pytest

from agents.commands import CommandGate, Outcome
from schemas.config.commands import CommandTrust
from schemas.errors import ConfigError

KNOWN = ("pin", "unpin", "reset")


def _gate(now: list[float], **trust: object) -> tuple[CommandGate, list[Outcome]]:
    seen: list[Outcome] = []
    gate = CommandGate("baseline", CommandTrust(**trust), known=KNOWN,  # type: ignore[arg-type]
                       on_outcome=seen.append, clock=lambda: now[0])  # fmt: skip
    return gate, seen


@pytest.mark.parametrize(
    ("trust", "action", "subject", "ts", "reason"),
    [
        ({}, "pin", "api latency", 1000.0, "allowed"),
        ({"enabled": False}, "pin", "x", 1000.0, "disabled"),
        ({"actions": ["pin", "unpin"]}, "reset", "x", 1000.0, "action"),
        ({}, "rm -rf", "x", 1000.0, "action"),  # unknown to the component
        ({"subjects": ["bench/*"]}, "pin", "api latency", 1000.0, "subject"),
        ({"subjects": ["bench/*"]}, "pin", "bench/sort", 1000.0, "allowed"),
        ({"max_age_seconds": 60}, "pin", "x", 900.0, "too_old"),  # a replayed old command
        ({"max_age_seconds": 0}, "pin", "x", 0.0, "allowed"),
    ],
)
def test_local_configuration_decides(trust, action, subject, ts, reason):  # noqa: ANN001
    gate, seen = _gate([1000.0], **trust)
    verdict = gate.admit("id-1", action, subject, ts)
    assert verdict.reason == reason and verdict.allowed == (reason == "allowed")
    expected = [] if reason == "allowed" else [f"refused_{reason}"]
    assert [o.outcome for o in seen] == expected


def test_rate_limit_per_minute_and_own_copies_are_free():
    now = [0.0]
    gate, seen = _gate(now, max_per_minute=2)
    assert [gate.admit(str(i), "pin", "x", 0.0).allowed for i in range(3)] == [True, True, False]
    assert gate.admit("1", "pin", "x", 0.0, count=False).allowed  # the stage's own fan-out
    now[0] = 61.0
    assert gate.admit("4", "pin", "x", 61.0).allowed
    assert [o.outcome for o in seen] == ["refused_rate_limited"]


def test_what_was_done_is_recorded(caplog: pytest.LogCaptureFixture):
    gate, seen = _gate([0.0])
    verdict = gate.admit("c-9", "reset", "bench/sort", 0.0)
    with caplog.at_level(logging.INFO, logger="toka.commands"):
        gate.record(verdict, "applied to benchmark")
    assert seen == [Outcome("baseline", "c-9", "reset", "bench/sort", "applied to benchmark")]
    assert "c-9" in caplog.text and "applied to benchmark" in caplog.text


def test_an_action_the_component_does_not_know_fails_at_start():
    with pytest.raises(ConfigError, match="unknown"):
        _gate([0.0], actions=["pin", "delete"])
