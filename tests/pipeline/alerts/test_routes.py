"""Rule routes cached per series id give what working them out per aggregate gives."""

from __future__ import annotations

from typing import Any

from pipeline.alerts import parse_rules
from pipeline.alerts.engine import RuleSet
from pipeline.alerts.model import FlapSpec, Level, Rule
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

RULES = """
rules:
  - name: CpuHigh
    metric: cpu
    match: {mode: "!=idle"}
    thresholds: {warning: 70, critical: 85}
  - name: Silent
    metric: cpu
    absent: {for: 1m, by: [host]}
    severity: critical
  - name: ErrRate
    ratio: {numerator: errs, denominator: calls, on: [svc]}
    field: sum
    thresholds: {critical: 0.3}
"""


def _stream() -> list[Any]:
    out = []
    for i in range(12):
        t = 1000.0 + 10 * i
        value = 95.0 if 3 <= i < 7 else 20.0
        # One series id, changing labels and host: the cache must not mix them up.
        out.append(agg("cpu", value, t, host="h1", mode="user"))
        out.append(agg("cpu", value, t, host="h1", mode="idle"))
        out.append(agg("cpu", value, t, host="h2", mode="user"))
        out.append(agg("errs", value / 100, t, svc="a"))
        out.append(agg("calls", 1.0, t, svc="a"))
    return out


def test_cached_routes_match_routes_worked_out_per_aggregate() -> None:
    cached = parse_rules(RULES, default_window=10.0)
    states_cached: dict[str, Any] = {}
    states_fresh: dict[str, Any] = {}
    alerts = 0
    for a in _stream():
        now = a.window_end + 1.0
        got = cached.evaluate(a, states_cached, now)
        want = parse_rules(RULES, default_window=10.0).evaluate(a, states_fresh, now)
        assert got == want
        assert states_cached == states_fresh
        alerts += len(got)
    assert alerts > 0


def test_below_threshold_writes_nothing() -> None:
    rules = parse_rules(RULES, default_window=10.0)
    states = ChangelogDict()
    for i in range(5):
        rules.evaluate(agg("cpu", 10.0, 1000.0 + 10 * i, mode="user"), states, 2000.0)
    # Only the absence rule's instance, written once while data keeps coming.
    assert [k for k in states if states[k]["rule"] == "CpuHigh"] == []
    assert states.writes == 1


def test_a_rule_that_flaps_at_zero_changes_still_stores_its_state() -> None:
    # Not a rule a file can hold (max_changes >= 2), but the engine takes it: no shortcut.
    rule = Rule(name="Odd", metric="cpu", levels=(Level("critical", 90, 90),),
                flap=FlapSpec(window=60, max_changes=0, settle=30))  # fmt: skip
    states: dict[str, Any] = {}
    RuleSet([rule], default_window=10.0).evaluate(agg("cpu", 10.0, 1000.0), states, 1001.0)
    assert [st["flapping"] for st in states.values()] == [True]
