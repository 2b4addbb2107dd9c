"""Finding rules: regressions, anomalies and capacity forecasts page and clear through the
alert engine (in process, a dict as state, an explicit clock)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.alerts.engine import instance_keys
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.parse import parse_rules
from schemas import decode, encode
from schemas.analytics import Anomaly, CapacityForecast, Regression, SummaryStats

RULES = """
rules:
  - name: LatencyRegression
    finding: regression
    thresholds: {warning: 10, critical: 50}
    clear_after: 5m
    labels: {team: perf}
    annotations: {summary: "{{ $labels.name }} regressed {{ $value }}%"}
  - name: SeriesAnomaly
    finding: anomaly
    match: {kind: "!=leak_suspect"}
    thresholds: {warning: 5}
    for: 20s
    clear_after: 1m
  - name: LeakSuspect
    finding: anomaly
    match: {kind: leak_suspect}
    thresholds: {critical: 0}
    op: ">="
  - name: DiskFillsSoon
    finding: capacity
    op: "<"
    thresholds: {warning: 14, critical: 3}
"""
T0 = 1_700_000_000.0


def _stats(mean: float) -> SummaryStats:
    return SummaryStats(n=5, mean=mean, p50=mean, p95=mean)


def regression(change: float, direction: str = "regression") -> Regression:
    return Regression(
        id=f"r{change}", ts=T0, kind="series", subject="app_latency_ms|h1", field="mean",
        direction=direction, baseline=_stats(100.0), current=_stats(100.0 + change),  # type: ignore[arg-type]
        change_percent=change, p_value=0.001, effect_size=2.0, method="mann_whitney",
        severity="major", baseline_version="v1", baseline_id="b1", name="app_latency_ms",
        host="h1",
    )  # fmt: skip


def anomaly(score: float, kind: str = "spike") -> Anomaly:
    return Anomaly(
        id=f"a{score}{kind}", ts=T0, series="cpu|h1", name="system_cpu_percent", field="mean",
        kind=kind, method="mad", observed=90.0, expected=20.0, lower=10.0, upper=30.0,  # type: ignore[arg-type]
        score=score, severity="major", host="h1",
    )  # fmt: skip


def forecast(days: float | None) -> CapacityForecast:
    return CapacityForecast(
        id=f"c{days}", ts=T0, series="disk|h1|/", name="system_disk_used_bytes", as_of=T0,
        model="linear", fit_metric="mape", fit_score=0.1, current_value=1.0, forecasts=[],
        growth_pattern="linear", recommendation="plan", history_points=100, history_days=3.0,
        horizon_limit_days=90, host="h1", labels={"mount": "/"},
        time_to_critical_seconds=None if days is None else days * 86400,
    )  # fmt: skip


@pytest.fixture
def rules() -> Any:
    return parse_rules(RULES)


def feed(rules: Any, record: Any, states: dict[str, Any], now: float) -> list[Any]:
    # through the codec, as the worker's finding sink receives it
    return rules.evaluate_finding(decode(encode(record)), states, now)


def test_parse_finding_rules(rules: Any) -> None:
    by = {r.name: r for r in rules.rules}
    assert by["LatencyRegression"].kind == "finding"
    assert by["LatencyRegression"].finding.kind == "regression"
    assert by["LatencyRegression"].finding.clear_after == 300.0
    assert by["DiskFillsSoon"].finding.clear_after == 7200.0  # the default: 2 missed refits
    assert by["SeriesAnomaly"].finding.clear_after == 60.0
    assert rules.has_finding_rules


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ("{name: X, finding: incident, thresholds: {warning: 1}}", "finding"),
        ("{name: X, finding: regression, metric: m, thresholds: {warning: 1}}", "metric"),
        ("{name: X, finding: anomaly, thresholds: {warning: 1}, clear_after: soon}", "clear_after"),
        ("{name: X, metric: m, thresholds: {warning: 1}, clear_after: 5m}", "clear_after"),
    ],
)
def test_bad_finding_rules_are_named(rule: str, where: str) -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rules(f"rules:\n  - {rule}\n")
    assert any(where in path for path, _ in err.value.errors), err.value.errors


def test_regression_fires_then_clears_after_quiet(rules: Any) -> None:
    states: dict[str, Any] = {}
    fired = feed(rules, regression(30.0), states, T0)
    assert [(a.status, a.labels["severity"], a.rule) for a in fired] == [
        ("firing", "warning", "LatencyRegression")
    ]
    alert = fired[0]
    assert alert.labels["team"] == "perf" and alert.labels["name"] == "app_latency_ms"
    assert alert.annotations["summary"] == "app_latency_ms regressed 30%"
    assert rules.tick(states, T0 + 299) == []  # still within clear_after
    resolved = rules.tick(states, T0 + 300)
    assert [(a.status, a.fingerprint) for a in resolved] == [("resolved", alert.fingerprint)]
    assert instance_keys(states) == []  # nothing left open


def test_regression_below_threshold_or_improvement_does_not_fire(rules: Any) -> None:
    states: dict[str, Any] = {}
    assert feed(rules, regression(5.0), states, T0) == []
    assert feed(rules, regression(-40.0, "improvement"), states, T0) == []
    assert instance_keys(states) == []


def test_anomaly_waits_for_for_and_clears_after_normal_windows(rules: Any) -> None:
    states: dict[str, Any] = {}
    assert feed(rules, anomaly(8.0), states, T0) == []  # pending: for 20s
    assert feed(rules, anomaly(9.0), states, T0 + 10) == []
    fired = feed(rules, anomaly(9.0), states, T0 + 20)
    assert [(a.status, a.rule) for a in fired] == [("firing", "SeriesAnomaly")]
    assert rules.tick(states, T0 + 60) == []  # last anomaly at +20: not yet 60 s quiet
    assert [a.status for a in rules.tick(states, T0 + 80)] == ["resolved"]


def test_leak_suspect_fires_its_own_rule(rules: Any) -> None:
    fired = feed(rules, anomaly(3.0, "leak_suspect"), {}, T0)
    assert [(a.rule, a.labels["severity"]) for a in fired] == [("LeakSuspect", "critical")]


def test_capacity_fires_escalates_and_clears_above_horizon(rules: Any) -> None:
    states: dict[str, Any] = {}
    fired = feed(rules, forecast(10.0), states, T0)
    assert [(a.status, a.labels["severity"]) for a in fired] == [("firing", "warning")]
    assert fired[0].labels["mount"] == "/"
    worse = feed(rules, forecast(2.0), states, T0 + 60)
    assert [(a.status, a.labels["severity"]) for a in worse] == [
        ("resolved", "warning"),
        ("firing", "critical"),
    ]
    assert rules.tick(states, T0 + 3600) == []  # forecasts come hourly: no time-based clear
    cleared = feed(rules, forecast(30.0), states, T0 + 120)
    assert [(a.status, a.labels["severity"]) for a in cleared] == [("resolved", "critical")]
    assert feed(rules, forecast(10.0), states, T0 + 180)[0].status == "firing"
    assert [a.status for a in feed(rules, forecast(None), states, T0 + 240)] == ["resolved"]
    feed(rules, forecast(1.0), states, T0 + 300)
    assert [a.status for a in rules.tick(states, T0 + 300 + 7200)] == ["resolved"]  # stopped


def test_default_finding_rules_are_the_same_in_both_places() -> None:
    from pathlib import Path

    from pipeline.alerts.defaults import load_rules
    from schemas.config.seed import Thresholds

    def finding_rules(rs: Any) -> dict[str, Any]:
        return {r.name: r for r in rs.rules if r.kind == "finding"}

    built_in = finding_rules(load_rules(None, Thresholds()))
    shipped = finding_rules(load_rules(Path("deploy/rules/toka-rules.yaml"), Thresholds()))
    assert set(built_in) == {
        "TokaRegression",
        "TokaAnomaly",
        "TokaMemoryLeakSuspect",
        "TokaCapacity",
    }
    assert built_in == shipped
    # and the shipped regression rule pages a 25% regression
    (alert,) = feed(load_rules(None, Thresholds()), regression(25.0), {}, T0)
    assert alert.rule == "TokaRegression" and alert.status == "firing"
