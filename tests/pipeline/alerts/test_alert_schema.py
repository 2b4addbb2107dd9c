"""Every kind of alert the engine emits validates against the published JSON Schema."""

from __future__ import annotations

import textwrap

import jsonschema
import orjson

from pipeline.alerts import parse_rules
from schemas import encode
from schemas.jsonschema_files import load
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

RULES = textwrap.dedent("""
rules:
  - name: Cpu
    metric: cpu
    thresholds: {warning: 70, critical: 85}
    escalate_after: 20s
    annotations: {summary: "{{ $value }}", runbook_url: "https://r/{{ $labels.host }}"}
  - name: Silent
    metric: cpu
    absent: {for: 10s}
  - name: Errors
    ratio: {numerator: err, denominator: calls}
    thresholds: {high: 0.1}
""")


def test_emitted_alerts_validate():
    rs = parse_rules(RULES)
    states = ChangelogDict()
    out = []
    out += rs.evaluate(agg("cpu", 75, 10), states, 10)
    out += rs.tick(states, 31)  # escalation: warning resolved, critical firing
    out += rs.tick(states, 60)  # absence fires
    out += rs.evaluate(agg("cpu", 10, 70), states, 70)  # everything resolves
    out += rs.evaluate(agg("err", 5, 70), states, 70)
    out += rs.evaluate(agg("calls", 10, 70), states, 70)
    kinds = {(a.rule, a.status) for a in out}
    assert kinds == {
        ("Cpu", "firing"),
        ("Cpu", "resolved"),
        ("Silent", "firing"),
        ("Silent", "resolved"),
        ("Errors", "firing"),
    }
    schema = load("toka.alert.v1")
    for a in out:
        jsonschema.validate(orjson.loads(encode(a)), schema)
