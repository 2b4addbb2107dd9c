"""``toka rules test``: promtool-style rule unit tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline.alerts import RuleFileError
from pipeline.alerts.ruletest import expand_values, parse_series, run_test_file
from pipeline.cli.main import main
from schemas.config.seed import Thresholds

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "rules"


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1 2 3", [1, 2, 3]),
        ("1+2x3", [1, 3, 5, 7]),
        ("10-5x2", [10, 5, 0]),
        ("7x2", [7, 7, 7]),
        ("1 _ stale 2", [1, None, None, 2]),
        ("_x3 4", [None, None, None, 4]),
        ("-1.5 1e2", [-1.5, 100]),
    ],
)
def test_expand_values(text, values):
    assert expand_values(text) == values


def test_parse_series():
    assert parse_series('m{host="a", path="/x\\"y"}') == ("m", {"host": "a", "path": '/x"y'})
    assert parse_series("up") == ("up", {})
    with pytest.raises(ValueError):
        parse_series("m{host=a}")


def write(tmp_path: Path, rules: str, tests: str) -> Path:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    path = tmp_path / "rules.test.yaml"
    path.write_text("rule_files: [rules.yaml]\n" + textwrap.dedent(tests))
    return path


RULES = """
rules:
  - name: Slow
    metric: latency
    field: p95
    thresholds: {high: 100}
    for: 20s
    annotations: {summary: "{{ $labels.service }} p95 {{ $value }}"}
"""


def test_passing_and_failing_cases(tmp_path):
    tests = """
    tests:
      - name: fires after for
        input_series:
          - series: 'latency{host="a", service="api"}'
            values: '50 150x4'
        alert_rule_test:
          - {eval_time: 20s, alertname: Slow, exp_alerts: []}
          - eval_time: 30s
            alertname: Slow
            exp_alerts:
              - exp_labels: {severity: high, service: api}
                exp_annotations: {summary: "api p95 150"}
      - name: wrong expectation
        input_series:
          - {series: 'latency{host="a"}', values: '150x5'}
        alert_rule_test:
          - {eval_time: 10s, alertname: Slow, exp_alerts: [{exp_labels: {severity: high}}]}
    """
    ok, bad = run_test_file(write(tmp_path, RULES, tests), Thresholds())
    assert ok.ok, ok.failures
    assert not bad.ok
    assert bad.failures == ["at 10s, alertname Slow: expected [{severity=high}], got []"]


def test_built_in_rules_when_no_rule_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent("""
    tests:
      - name: default cpu
        input_series: [{series: 'system_cpu_percent{host="h"}', values: '90'}]
        alert_rule_test:
          - eval_time: 0s
            alertname: HostCpuHigh
            exp_alerts: [{exp_labels: {severity: critical}}]
    """)
    )
    (case,) = run_test_file(path, Thresholds())
    assert case.ok, case.failures
    (case,) = run_test_file(path, Thresholds(cpu_warning_percent=95, cpu_critical_percent=99))
    assert not case.ok


def test_bad_test_file_names_the_place(tmp_path):
    path = write(
        tmp_path,
        RULES,
        """
    tests:
      - name: t
        input_series: [{series: 'latency{host=a}', values: '1'}]
    """,
    )
    with pytest.raises(RuleFileError, match=r"t: input_series\[0\]"):
        run_test_file(path, Thresholds())


def test_cli_rules_test(tmp_path, capsys):
    assert main(["rules", "test", str(DEPLOY / "toka-rules.test.yaml")]) == 0
    assert "4 passed, 0 failed" in capsys.readouterr().out
    failing = write(
        tmp_path,
        RULES,
        """
    tests:
      - name: never
        input_series: [{series: 'latency{host="a"}', values: '1x5'}]
        alert_rule_test: [{eval_time: 50s, alertname: Slow, exp_alerts: [{}]}]
    """,
    )
    assert main(["rules", "test", str(failing)]) == 1
    assert "FAIL  never" in capsys.readouterr().out
