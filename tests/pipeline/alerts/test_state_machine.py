"""The alert state machine through rule files: for, keep_firing_for, hysteresis, flapping,
escalation, absence, ratio, grouping. Each scenario feeds windows (and clock ticks) and
checks the exact notifications."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.alerts import parse_rules
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

M = "m"


def drive(rules: str, steps: list[tuple], states: ChangelogDict | None = None) -> list[tuple]:
    """Steps: (t, value) feeds series ``m`` of host h1 at window end t (clock = t);
    ("tick", now) runs the timer. Returns (t, status, severity) per notification."""
    rs = parse_rules(textwrap.dedent(rules))
    states = ChangelogDict() if states is None else states
    out = []
    for step in steps:
        if step[0] == "tick":
            t, alerts = step[1], rs.tick(states, step[1])
        else:
            t, value = step
            alerts = rs.evaluate(agg(M, value, t), states, t)
        out += [(t, a.status, a.labels["severity"]) for a in alerts]
    return out


def series(start: float, *values: float, step: float = 10) -> list[tuple]:
    return [(start + i * step, v) for i, v in enumerate(values)]


BASE = """
rules:
  - name: R
    metric: m
    thresholds: {warning: 70, critical: 85}
"""


@pytest.mark.parametrize(
    ("extra", "values", "expected"),
    [
        # for: pending from the first window past the threshold, fires 30 s later
        ("for: 30s", [50, 75, 75, 75, 75, 50],
         [(40, "firing", "warning"), (50, "resolved", "warning")]),
        # for: one window back under the threshold restarts the pending clock
        ("for: 30s", [75, 75, 50, 75, 75, 75, 75],
         [(60, "firing", "warning")]),
        # for: a short spike never fires
        ("for: 20s", [90, 50, 90, 50], []),
        # keep_firing_for: stays firing 20 s after the condition stops
        ("keep_firing_for: 20s", [90, 50, 50, 50],
         [(0, "firing", "critical"), (30, "resolved", "critical")]),
        # keep_firing_for: coming back within the time keeps the one alert
        ("keep_firing_for: 20s", [90, 50, 90, 50, 50, 50],
         [(0, "firing", "critical"), (50, "resolved", "critical")]),
        # keep_firing_for also delays a downgrade, then the lower severity fires
        ("keep_firing_for: 10s", [90, 75, 75, 75],
         [(0, "firing", "critical"), (20, "resolved", "critical"), (20, "firing", "warning")]),
        # hysteresis: resolves only 5 below the threshold
        ("hysteresis: 5", [72, 68, 66, 64],
         [(0, "firing", "warning"), (30, "resolved", "warning")]),
        # hysteresis on a downgrade: critical holds to 80, then warning holds to 65
        ("hysteresis: 5", [90, 81, 79, 66, 64],
         [(0, "firing", "critical"), (20, "resolved", "critical"), (20, "firing", "warning"),
          (40, "resolved", "warning")]),
        # hysteresis does not lower the firing threshold: 68 after quiet does not fire
        ("hysteresis: 5", [60, 68, 71],
         [(20, "firing", "warning")]),
    ],
)  # fmt: skip
def test_for_keep_firing_and_hysteresis(extra, values, expected):
    assert drive(BASE + f"    {extra}\n", series(0, *values)) == expected


def test_per_severity_resolve_thresholds():
    rules = """
    rules:
      - name: R
        metric: m
        thresholds:
          warning: {value: 70, resolve: 60}
          critical: {value: 85, resolve: 84}
    """
    got = drive(rules, series(0, 86, 84.5, 83, 61, 59))
    assert got == [
        (0, "firing", "critical"),
        (20, "resolved", "critical"), (20, "firing", "warning"),
        (40, "resolved", "warning"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("<", [50, 9, 4, 20], [(10, "firing", "high"), (20, "resolved", "high"),
                                (20, "firing", "critical"), (30, "resolved", "critical")]),
        ("<=", [11, 10], [(10, "firing", "high")]),
    ],
)  # fmt: skip
def test_lower_is_worse(op, values, expected):
    rules = f"""
    rules:
      - name: DiskFreeLow
        metric: m
        op: "{op}"
        thresholds: {{high: 10, critical: 5}}
    """
    assert drive(rules, series(0, *values)) == expected


def test_for_pending_without_new_data_fires_on_tick():
    """A pending alert fires when ``for`` has passed, even if the next window is late."""
    got = drive(BASE + "    for: 30s\n", [(100, 90), (105, 90), ("tick", 120), ("tick", 131)])
    assert got == [(131, "firing", "critical")]


def test_keep_firing_for_expires_on_tick():
    got = drive(BASE + "    keep_firing_for: 60s\n", [(100, 90), (110, 10), ("tick", 150),
                                                     ("tick", 171)])  # fmt: skip
    assert got == [(100, "firing", "critical"), (171, "resolved", "critical")]


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        # warning escalates to the rule's next severity, then no further than critical
        ("{warning: 70, critical: 85}",
         [(0, "firing", "warning"), (60, "resolved", "warning"), (60, "firing", "critical")]),
        # with no higher severity in the rule: one step up the scale
        ("{low: 70}", [(0, "firing", "low"), (60, "resolved", "low"), (60, "firing", "medium"),
                       (120, "resolved", "medium"), (120, "firing", "high"),
                       (180, "resolved", "high"), (180, "firing", "critical")]),
    ],
)  # fmt: skip
def test_escalation(thresholds, expected):
    rules = f"""
    rules:
      - name: R
        metric: m
        thresholds: {thresholds}
        escalate_after: 60s
    """
    got = drive(rules, series(0, *[75] * 25))
    assert got == expected


def test_escalated_alert_says_so_and_resolves():
    rules = BASE + "    escalate_after: 30s\n"
    rs = parse_rules(textwrap.dedent(rules))
    states = ChangelogDict()
    rs.evaluate(agg(M, 75, 0), states, 0)
    assert rs.tick(states, 20) == []
    resolved, fired = rs.tick(states, 31)
    assert (resolved.status, fired.status) == ("resolved", "firing")
    assert fired.labels["severity"] == "critical" and fired.threshold == 70.0
    assert fired.annotations["escalated_from"] == "warning"
    assert fired.labels["toka_group"] == resolved.labels["toka_group"]
    (end,) = rs.evaluate(agg(M, 10, 40), states, 40)
    assert (end.status, end.labels["severity"]) == ("resolved", "critical")


def test_data_upgrade_resets_escalation():
    rules = BASE + "    escalate_after: 60s\n"
    got = drive(rules, series(0, 75, 75, 90, *[90] * 10))
    assert got == [
        (0, "firing", "warning"),
        (20, "resolved", "warning"),
        (20, "firing", "critical"),
    ]


FLAP = BASE + "    flap: {window: 60s, max_changes: 3, settle: 30s}\n"


def test_flapping_holds_notifications_until_settled():
    values = [90, 10, 90, 10, 90, 10, 90, 90, 90, 90, 90]
    got = drive(FLAP, series(0, *values))
    # fire, resolve, then the third change in 60 s marks it flapping: held; quiet for 30 s
    # after the last change (t=60) it settles and the held state (firing) is sent once.
    assert got == [(0, "firing", "critical"), (10, "resolved", "critical"),
                   (90, "firing", "critical")]  # fmt: skip


def test_flapping_settles_to_same_state_sends_nothing():
    values = [90, 10, 90, 10, 10, 10, 10, 10, 10]
    got = drive(FLAP, series(0, *values))
    assert got == [(0, "firing", "critical"), (10, "resolved", "critical")]


def test_flapping_settles_on_tick_without_data():
    steps = [*series(0, 90, 10, 90), ("tick", 40), ("tick", 51)]
    got = drive(FLAP, steps)
    assert got == [(0, "firing", "critical"), (10, "resolved", "critical"),
                   (51, "firing", "critical")]  # fmt: skip


def test_slow_changes_are_not_flapping():
    values = [90, 90, 90, 90, 10, 10, 10, 10, 90]
    got = drive(FLAP, series(0, *values, step=20))
    assert [s for _, s, _ in got] == ["firing", "resolved", "firing"]


ABSENT = """
rules:
  - name: HostSilent
    metric: m
    absent: {for: 60s, by: [host]}
    severity: high
"""


def test_absence_fires_a_deadman_and_resolves_when_data_returns():
    rs = parse_rules(textwrap.dedent(ABSENT))
    states = ChangelogDict()
    assert rs.evaluate(agg(M, 1, 100), states, 100) == []
    assert rs.tick(states, 164) == []  # 60 s plus the 5 s slack of the "seen" time
    (dead,) = rs.tick(states, 166)
    assert dead.status == "firing" and dead.labels["alertname"] == "HostSilent"
    assert dead.labels["severity"] == "high" and dead.labels["host"] == "h1"
    assert dead.value == pytest.approx(66) and dead.threshold == 60
    assert dead.annotations["summary"] == "no data from h1 for 66s"
    assert rs.tick(states, 200) == []  # fires once
    (back,) = rs.evaluate(agg(M, 1, 210), states, 210)
    assert back.status == "resolved" and back.fingerprint == dead.fingerprint


def test_absence_by_host_is_one_alert_per_host():
    rs = parse_rules(textwrap.dedent(ABSENT))
    states = ChangelogDict()
    for host in ("a", "b"):
        for cpu in ("0", "1"):
            rs.evaluate(agg(M, 1, 100, host=host, cpu=cpu), states, 100)
    rs.evaluate(agg(M, 1, 150, host="b"), states, 150)  # b keeps talking
    alerts = rs.tick(states, 175)
    assert [(a.labels["host"], a.status) for a in alerts] == [("a", "firing")]
    assert "cpu" not in alerts[0].labels


def test_absence_skips_writes_while_data_flows():
    rs = parse_rules(textwrap.dedent(ABSENT))
    states = ChangelogDict()
    for t in range(100, 200):  # one window a second
        rs.evaluate(agg(M, 1, t), states, t)
        assert rs.tick(states, t + 0.5) == []  # and never a false deadman
    assert states.writes < 25  # not one changelog write per window


RATIO = """
rules:
  - name: ErrorRate
    ratio: {numerator: errors, denominator: calls, on: [service]}
    field: sum
    thresholds: {high: 0.05}
"""


def ratio_feed(rs, states, t, errors, calls, *, order="nd", service="api"):
    out = []
    for side in order:
        name, v = ("errors", errors) if side == "n" else ("calls", calls)
        if v is not None:
            out += rs.evaluate(agg(name, v, t, service=service), states, t)
    return [(a.status, a.value) for a in out]


@pytest.mark.parametrize("order", ["nd", "dn"])
def test_ratio_fires_whichever_half_comes_first(order):
    rs = parse_rules(textwrap.dedent(RATIO))
    states = ChangelogDict()
    assert ratio_feed(rs, states, 10, 1, 100, order=order) == []
    assert ratio_feed(rs, states, 20, 10, 100, order=order) == [("firing", 0.1)]
    assert ratio_feed(rs, states, 30, 2, 100, order=order) == [("resolved", 0.02)]


def test_ratio_window_without_error_series_counts_as_zero():
    rs = parse_rules(textwrap.dedent(RATIO))
    states = ChangelogDict()
    assert ratio_feed(rs, states, 10, 10, 100) == [("firing", 0.1)]
    assert ratio_feed(rs, states, 20, None, 100) == []  # only calls so far
    assert ratio_feed(rs, states, 30, None, 100) == [("resolved", 0.0)]  # window 20 had none


def test_ratio_joins_on_labels_per_service():
    rs = parse_rules(textwrap.dedent(RATIO))
    states = ChangelogDict()
    assert ratio_feed(rs, states, 10, 10, 100, service="a") == [("firing", 0.1)]
    assert ratio_feed(rs, states, 10, 1, 100, service="b") == []
    # no calls: no ratio and no change
    assert ratio_feed(rs, states, 20, 0, 0, service="a") == []


def test_grouping_shares_a_key_within_the_window():
    rules = """
    grouping: {by: [host], window: 60s}
    rules:
      - {name: A, metric: m, thresholds: {high: 10}}
      - {name: B, metric: m, thresholds: {high: 20}}
      - {name: C, metric: n, thresholds: {high: 20}}
    """
    rs = parse_rules(textwrap.dedent(rules))
    states = ChangelogDict()
    first = rs.evaluate(agg(M, 30, 100), states, 100)
    later = rs.evaluate(agg("n", 30, 150), states, 150)
    other = rs.evaluate(agg(M, 30, 100, host="h2"), states, 100)
    keys = {a.labels["toka_group"] for a in first + later}
    assert len(first) == 2 and len(keys) == 1
    assert other[0].labels["toka_group"] not in keys
    rs.evaluate(agg("n", 0, 160), states, 160)
    rs.tick(states, 400)  # the group closes after a quiet window
    (again,) = rs.evaluate(agg("n", 30, 400), states, 400)
    assert again.labels["toka_group"] not in keys


def test_matchers_labels_and_templated_annotations():
    rules = """
    rules:
      - name: DiskFull
        metric: disk
        match: {mount: "!~/boot.*", device: "=~sd.+", fs: "!=tmpfs"}
        field: max
        thresholds: {critical: 90}
        labels: {team: infra}
        annotations:
          summary: >-
            {{ $labels.mount }} on {{ $labels.host }} is {{ $value | printf "%.1f" }}% full
          description: "{{ $severity }} over {{ $threshold }} ({{ $rule }})"
          runbook_url: "https://runbooks/disk#{{ $labels.mount }}"
    """
    rs = parse_rules(textwrap.dedent(rules))
    states = ChangelogDict()
    skip = [
        agg("disk", 99, 10, mount="/boot", device="sda", fs="ext4"),
        agg("disk", 99, 10, mount="/", device="nvme0", fs="ext4"),
        agg("disk", 99, 10, mount="/run", device="sdb", fs="tmpfs"),
    ]
    assert [a for x in skip for a in rs.evaluate(x, states, 10)] == []
    (a,) = rs.evaluate(agg("disk", 97.25, 10, mount="/data", device="sdb1", fs="xfs"), states, 10)
    assert a.labels["team"] == "infra" and a.labels["mount"] == "/data"
    assert a.annotations == {
        "summary": "/data on h1 is 97.2% full",
        "description": "critical over 90 (DiskFull)",
        "runbook_url": "https://runbooks/disk#/data",
    }


def test_rule_field_and_window_selection():
    rules = """
    rules:
      - {name: P95, metric: m, field: p95, window: 60s, thresholds: {high: 100}}
    """
    rs = parse_rules(textwrap.dedent(rules))
    states = ChangelogDict()
    assert rs.evaluate(agg(M, 500, 10, window=10), states, 10) == []  # 10 s window: not read
    (a,) = rs.evaluate(agg(M, 500, 60, window=60), states, 60)
    assert a.value == 500


def test_default_window_of_the_rule_set():
    rs = parse_rules(textwrap.dedent(BASE), default_window=10)
    states = ChangelogDict()
    assert rs.evaluate(agg(M, 99, 60, window=60), states, 60) == []
    assert len(rs.evaluate(agg(M, 99, 60, window=10), states, 60)) == 1


def test_without_a_default_window_the_shortest_seen_is_read():
    rs = parse_rules(textwrap.dedent(BASE))
    states = ChangelogDict()
    assert len(rs.evaluate(agg(M, 99, 60, window=10), states, 60)) == 1
    assert rs.evaluate(agg(M, 10, 60, window=60), states, 60) == []  # the 1 min window
    assert rs.evaluate(agg(M, 10, 120, window=60), states, 120) == []
    (resolved,) = rs.evaluate(agg(M, 10, 70, window=10), states, 70)
    assert resolved.status == "resolved"


def test_state_survives_a_new_rule_set_instance():
    """The worker restarts: a fresh RuleSet over the recovered table resolves, once."""
    states = ChangelogDict()
    assert drive(BASE, series(0, 90, 90), states) == [(0, "firing", "critical")]
    assert drive(BASE, [(20, 90), (30, 10), (30, 10)], states) == [(30, "resolved", "critical")]


def test_removed_rule_resolves_what_it_fired():
    states = ChangelogDict()
    drive(BASE, series(0, 90), states)
    other = "rules:\n  - {name: Other, metric: x, thresholds: {high: 1}}\n"
    (a,) = parse_rules(other).tick(states, 20)
    assert (a.status, a.rule, a.labels["alertname"]) == ("resolved", "R", "R")
    assert len([k for k in states if k.startswith("a|")]) == 0


def test_rule_turned_absence_rule_keeps_working():
    """A rule file edited between restarts: the old state of a same-named rule must not
    break the timer."""
    states = ChangelogDict()
    drive(BASE + "    for: 1h\n", series(0, 90), states)  # pending, kept in the table
    absent = "rules:\n  - {name: R, metric: m, absent: {for: 10s}}\n"
    assert drive(absent, [("tick", 100)], states) == []  # starts watching now
    assert drive(absent, [("tick", 116)], states) == [(116, "firing", "critical")]


def test_rule_changed_kind_resolves_what_it_had_fired():
    states = ChangelogDict()
    assert drive(BASE, series(0, 90), states) == [(0, "firing", "critical")]
    absent = "rules:\n  - {name: R, metric: m, absent: {for: 10s}}\n"
    assert drive(absent, [("tick", 5)], states) == [(5, "resolved", "critical")]
