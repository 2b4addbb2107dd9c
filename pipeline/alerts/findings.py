"""Rules on findings: regressions, anomalies (leak suspects included) and capacity
forecasts page like aggregates do, through the same state machine, so ``for``,
severities, labels, annotations and grouping mean the same.

Each finding kind gives a subject (the instance's labels) and a value compared with the
rule's thresholds:

- regression: ``change_percent`` of a shift in the ``regression`` direction (an
  improvement is a value of 0: it clears);
- anomaly: ``score`` (``match: {kind: leak_suspect}`` selects leak suspects);
- capacity: ``days_to_critical`` (op ``<``); a forecast that does not reach critical
  within its horizon is a clear.

Clearing: a regression is reported once per shift and an anomaly once per anomalous
window, so both clear after ``clear_after`` without a new finding for the subject (the
engine's tick). Capacity forecasts come on every refit, so the next forecast above the
horizon clears (and ``clear_after`` without any forecast, a series that stopped).
The state machine runs on the wall clock: findings are events, not windows.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from pipeline.alerts.machine import observe
from pipeline.alerts.routes import Route
from schemas.analytics import Anomaly, CapacityForecast, Regression
from schemas.records import Alert

if TYPE_CHECKING:
    from pipeline.alerts.engine import RuleSet

__all__ = ["FINDING_KINDS", "FINDING_PREFIX", "evaluate_finding", "finding_subject"]

#: The pseudo series name a finding rule reads (never a real series name).
FINDING_PREFIX = "finding:"
FINDING_KINDS = ("regression", "anomaly", "capacity")

#: Default ``clear_after`` per kind, seconds (deploy/rules/toka-rules.yaml says why):
#: a regression is reported once per shift, so 30 windows of the analytics' 1-min windows
#: without a new report; an anomaly is reported per anomalous window, so 10 normal 1-min
#: windows; capacity clears on a forecast above the horizon, or after two missed hourly
#: refits (the series stopped).
CLEAR_AFTER: dict[str, float | None] = {"regression": 1800.0, "anomaly": 600.0, "capacity": 7200.0}

_DAY = 86400.0


def finding_subject(record: Any) -> tuple[str, dict[str, str], float | None] | None:
    """(kind, labels, value) of a finding record; None for a record that is no finding."""
    if isinstance(record, Regression):
        labels = {
            **record.labels,
            "subject": record.subject,
            "name": record.name or record.subject,
            "host": record.host,
            "field": record.field,
        }
        hit = record.direction == "regression"
        return "regression", labels, abs(record.change_percent) if hit else None
    if isinstance(record, Anomaly):
        labels = {
            **record.labels,
            "series": record.series,
            "name": record.name,
            "host": record.host,
            "field": record.field,
            "kind": record.kind,
        }
        return "anomaly", labels, record.score
    if isinstance(record, CapacityForecast):
        labels = {
            **record.labels,
            "series": record.series,
            "name": record.name,
            "host": record.host,
        }
        ttc = record.time_to_critical_seconds
        return "capacity", labels, None if ttc is None else ttc / _DAY
    return None


def evaluate_finding(
    rules: RuleSet, record: Any, states: MutableMapping[str, Any], now: float
) -> list[Alert]:
    """Feed one finding to the finding rules of its kind; returns the alert changes."""
    subject = finding_subject(record)
    if subject is None:
        return []
    kind, labels, value = subject
    out: list[Alert] = []
    for rule in rules.rules_reading(FINDING_PREFIX + kind):
        if not all(m.matches(labels) for m in rule.matchers):
            continue
        route = Route(rule, labels)
        key, st = rules.load_instance(rule, route, states)
        raw = 0 if value is None else rule.level_for(value, st["rank"])
        if raw == 0 and st["raw"] == 0 and st["rank"] == 0 and states.get(key) is None:
            continue  # below every threshold and nothing open: stays idle
        st = observe(rule, st, raw, now)
        st.update(t=now, seen=now, skew=0.0, value=0.0 if value is None else value)
        out += rules.commit_instance(rule, key, st, now, now=now, states=states)
    return out
