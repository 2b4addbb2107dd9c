"""The built-in threshold rules (monitoring.thresholds) through the engine."""

from __future__ import annotations

import pytest

from pipeline.alerts import load_rules
from schemas.config.seed import Thresholds
from schemas.records import ZERO_TIME
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

CPU, MEM = "system_cpu_percent", "system_memory_percent"


def run(rs, values, name=CPU, host="h1", states=None):
    states = ChangelogDict() if states is None else states
    out = []
    for i, v in enumerate(values):
        t = 1000.0 + 10 * i
        out.append(
            [
                (a.status, a.labels["severity"])
                for a in rs.evaluate(agg(name, v, t, host), states, t + 1)
            ]
        )
    return out, states


@pytest.fixture
def rs():
    return load_rules(None, Thresholds())


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        # a warning waits for 30 s of sustained data (four 10-s windows), critical does not
        (CPU, [50, 71, 71, 71, 71, 60], [[], [], [], [], [("firing", "warning")],
                                         [("resolved", "warning")]]),
        (CPU, [50, 75, 50, 50, 50, 50], [[]] * 6),  # a one-window spike never warns
        (CPU, [50, 86, 10], [[], [("firing", "critical")], [("resolved", "critical")]]),
        (CPU, [70, 85, 85, 85, 85], [[], [], [], [], [("firing", "warning")]]),  # strictly above
        (MEM, [74, 76, 91], [[], [], [("firing", "critical")]]),
        (MEM, [95, 80, 10], [[("firing", "critical")],
                             [("resolved", "critical"), ("firing", "warning")],
                             [("resolved", "warning")]]),
        ("system_cpu_core_percent", [99, 99], [[], []]),  # other series are not selected
    ],
)  # fmt: skip
def test_threshold_transitions(rs, name, values, expected):
    out, states = run(rs, values, name)
    assert out == expected
    if expected[-1] and expected[-1][-1][0] == "resolved":
        assert len(states) <= 1  # only the group may remain: resolved instances are dropped


def test_firing_alert_shape(rs):
    t = 1000.0
    (alert,) = rs.evaluate(agg(CPU, 95.0, t, "web-1", cpu="total"), ChangelogDict(), t + 2)
    assert alert.status == "firing" and alert.endsAt == ZERO_TIME
    assert alert.labels["alertname"] == "HostCpuHigh"
    assert alert.labels["host"] == "web-1" and alert.labels["cpu"] == "total"
    assert alert.labels["severity"] == "critical"
    assert alert.value == 95.0 and alert.threshold == 85.0 and alert.rule == "HostCpuHigh"
    assert alert.startsAt == "1970-01-01T00:16:40.000Z"
    assert alert.annotations["summary"] == "CPU on web-1 at 95.0% (threshold 85%)"


def test_fingerprint_stable_per_rule_and_series(rs):
    a = rs.evaluate(agg(CPU, 95, 1000.0, "h1"), ChangelogDict(), 1001)[0]
    states = ChangelogDict()
    (b,) = [
        alert
        for t in (2000.0, 2010.0, 2020.0, 2030.0)  # a warning fires once sustained for 30 s
        for alert in load_rules(None, Thresholds()).evaluate(agg(CPU, 72, t, "h1"), states, 1)
    ]
    c = rs.evaluate(agg(CPU, 95, 1000.0, "h2"), ChangelogDict(), 1001)[0]
    d = rs.evaluate(agg(MEM, 95, 1000.0, "h1"), ChangelogDict(), 1001)[0]
    assert a.fingerprint == b.fingerprint  # severity and time do not change it
    assert len({a.fingerprint, c.fingerprint, d.fingerprint}) == 3


def test_resolved_carries_the_firing_labels_and_start(rs):
    states = ChangelogDict()
    (fired,) = rs.evaluate(agg(CPU, 90, 1000.0), states, 1001)
    (resolved,) = rs.evaluate(agg(CPU, 20, 1010.0), states, 1011)
    assert resolved.status == "resolved"
    assert resolved.labels == fired.labels and resolved.startsAt == fired.startsAt
    assert resolved.endsAt == "1970-01-01T00:16:50.000Z"
    assert resolved.fingerprint == fired.fingerprint and resolved.id != fired.id


def test_duplicate_or_older_window_is_ignored(rs):
    """A replay after a restart must not fire twice."""
    states = ChangelogDict()
    first = agg(CPU, 90, 1000.0)
    assert len(rs.evaluate(first, states, 1001)) == 1
    assert rs.evaluate(first, states, 1005) == []
    assert rs.evaluate(agg(CPU, 10, 990.0), states, 1006) == []  # older window: no resolve
    assert [a.status for a in rs.evaluate(agg(CPU, 10, 1010.0), states, 1011)] == ["resolved"]


def test_quiet_series_leave_no_state(rs):
    states = ChangelogDict()
    for i in range(5):
        rs.evaluate(agg(CPU, 20, 1000.0 + 10 * i, host=f"h{i}"), states, 2000)
    assert len(states) == 0 and states.writes == 0


def test_thresholds_come_from_config():
    rs = load_rules(None, Thresholds(cpu_warning_percent=10, cpu_critical_percent=20))
    (a,) = rs.evaluate(agg(CPU, 25, 1000.0), ChangelogDict(), 1001)
    assert (a.labels["severity"], a.threshold) == ("critical", 20.0)
