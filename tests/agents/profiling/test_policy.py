"""The agent's local configuration decides: every refusal names its reason and key."""

from __future__ import annotations

import pytest

from agents.profiling.policy import refusal
from agents.profiling.target import Target
from schemas.config.profiling import ProfilingConfig
from schemas.profiles import ProfileCommand

NOW = 1000.0
PY = Target(pid=42, name="python3", cmdline="python3 shop.py", uid=0, namespace_pid=42)


def _cmd(**changes: object) -> ProfileCommand:
    fields: dict = {"id": "c", "ts": NOW, "host": "h", "action": "start", "expires_at": NOW + 60,
                    "pid": 42, "duration_seconds": 30.0}  # fmt: skip
    return ProfileCommand(**{**fields, **changes})


CASES = [
    # (command changes, settings, enabled, target, running, reason fragment or None)
    ({}, {}, True, PY, {}, None),
    ({}, {}, False, PY, {}, "profiling is disabled on this host"),
    ({"expires_at": NOW - 5}, {}, True, PY, {}, "command expired 5s ago"),
    ({"pid": 7}, {}, True, PY, {}, "the agent does not profile itself"),
    ({}, {}, True, None, {}, "no process 42"),
    ({}, {"processes": ["java*", "*gunicorn*"]}, True, PY, {}, "matches none of agent.profiling"),
    ({}, {"processes": ["*shop.py"]}, True, PY, {}, None),
    ({"duration_seconds": 900}, {}, True, PY, {}, "above agent.profiling.max_duration_seconds"),
    ({"duration_seconds": 0}, {}, True, PY, {}, "duration must be positive"),
    ({"rate_hz": 1000}, {}, True, PY, {}, "rate 1000 Hz is above agent.profiling.max_rate_hz"),
    ({}, {}, True, PY, {42: "s1"}, "a session is already running on process 42 (s1)"),
    ({}, {"max_sessions": 1}, True, PY, {9: "s1"}, "agent.profiling.max_sessions is 1"),
]


@pytest.mark.parametrize("case", CASES)
def test_refusal(case: tuple) -> None:
    changes, settings, enabled, target, running, reason = case
    got = refusal(_cmd(**changes), now=NOW, enabled=enabled, settings=ProfilingConfig(**settings),
                  target=target, running=running, agent_pid=7)  # fmt: skip
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


def test_missing_profiler_refuses_cpu_only() -> None:
    kwargs = {"now": NOW, "enabled": True, "settings": ProfilingConfig(), "target": PY,
              "running": {}, "agent_pid": 7, "profiler_found": False}  # fmt: skip
    assert "py-spy is not installed" in (refusal(_cmd(), **kwargs) or "")
    assert refusal(_cmd(kind="memory"), **kwargs) is None


def test_default_rate_above_cap_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="default_rate_hz"):
        ProfilingConfig(default_rate_hz=500, max_rate_hz=200)
