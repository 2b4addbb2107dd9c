"""Rule files: what loads, and errors that name the rule, the key and the expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline.alerts import RuleFileError, load_rules, parse_rules
from pipeline.alerts.parse import parse_duration
from pipeline.cli.main import main
from schemas.config.seed import Thresholds
from schemas.errors import ConfigError

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "rules"


def errors_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(RuleFileError) as exc:
        parse_rules(textwrap.dedent(text), "r.yaml")
    assert isinstance(exc.value, ConfigError)  # reported like a bad config at start-up
    assert "r.yaml" in str(exc.value)
    return exc.value.errors


def rule(body: str) -> str:
    return "rules:\n  - name: R\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("rules: 3", "rules", "`rules:` list"),
        ("foo: 1\nrules: []", "foo", "unknown top-level key"),
        ("rules: [", "(file)", "valid YAML"),
        (rule("metric: m\nthresholds: {high: 1}\nfor: soon"), "rule 'R' (line 2): for",
         "duration like 30s"),
        (rule("metric: m\nthresholds: {high: 1}\nkeep_firing_for: -5"), "keep_firing_for",
         "duration"),
        (rule("metric: m\nthresholds: {severe: 1}"), "thresholds.severe", "a severity: low"),
        (rule("metric: m\nthresholds: {high: big}"), "thresholds.high", "a number"),
        (rule("metric: m\nthresholds: {high: .inf}"), "thresholds.high", "a number"),
        (rule("metric: m\nthresholds: {high: {value: 1, resolve: .nan}}"), "thresholds.high",
         "a number"),
        (rule("metric: m\nthresholds: {}"), "thresholds", "mapping of severity"),
        (rule("metric: m"), "thresholds", "mapping of severity"),
        (rule("metric: m\nthresholds: {warning: 1, medium: 2}"), "thresholds", "same rank"),
        (rule("metric: m\nthresholds: {high: 90, critical: 80}"), "thresholds.critical",
         "stricter value than high"),
        (rule("metric: m\nop: '<'\nthresholds: {high: 10, critical: 20}"), "thresholds.critical",
         "stricter value"),
        (rule("metric: m\nthresholds: {high: {value: 80, resolve: 85}}"),
         "thresholds.high.resolve", "at or below the firing value 80"),
        (rule("metric: m\nthresholds: {high: 1}\nhysteresis: -1"), "hysteresis", ">= 0"),
        (rule("metric: m\nthresholds: {high: 1}\nfield: median"), "field", "one of mean"),
        (rule("metric: m\nthresholds: {high: 1}\nop: '=='"), "op", "one of >"),
        (rule("metric: m\nthresholds: {high: 1}\nmatch: {mount: '=~(['}"), "match.mount",
         "valid regular expression"),
        (rule("metric: m\nthresholds: {high: 1}\nmatch: {cpu: 1}"), "match.cpu", "a string"),
        (rule("metric: m\nthresholds: {high: 1}\nlabels: {alertname: x}"), "labels.alertname",
         "does not set itself"),
        (rule("metric: m\nthresholds: {high: 1}\nannotations: {summary: '{{ $valu }}'}"),
         "annotations.summary", "unknown template variable '$valu'"),
        (rule("metric: m\nthresholds: {high: 1}\nannotations: {summary: '{{ $value | x }}'}"),
         "annotations.summary", "unknown template function"),
        (rule("metric: m\nthresholds: {high: 1}\nflap: {window: 1m, max_changes: 1}"),
         "flap.max_changes", "integer >= 2"),
        (rule("metric: m\nthresholds: {high: 1}\ncolour: red"), "colour", "unknown key"),
        (rule("metric: m\nthresholds: {high: {value: 1, for: soon}}"), "thresholds.high.for",
         "a duration"),
        (rule("metric: m\nthresholds: {high: {value: 1, wait: 1m}}"), "thresholds.high",
         "value, resolve and for"),
        (rule("thresholds: {high: 1}"), "metric", "series name"),
        (rule("metric: m\nratio: {numerator: a, denominator: b}\nthresholds: {high: 1}"),
         "ratio", "either metric or ratio"),
        (rule("ratio: {numerator: a}\nthresholds: {high: 1}"), "ratio", "numerator, denominator"),
        (rule("metric: m\nabsent: {by: [host]}"), "absent", "for (duration)"),
        (rule("metric: m\nabsent: {for: 1m}\nseverity: fatal"), "severity", "low, medium"),
        (rule("metric: m\nabsent: {for: 1m}\nthresholds: {high: 1}"), "thresholds",
         "no thresholds on an absence rule"),
        ("rules:\n  - {name: A, metric: m, thresholds: {high: 1}}\n"
         "  - {name: A, metric: n, thresholds: {high: 1}}", "rule 'A' (line 3): name",
         "unique name"),
        ("rules:\n  - 3", "rules[0]", "a mapping"),
        ("grouping: {by: host}\nrules: []", "grouping.by", "list of label names"),
        ("defaults: {severity: high}\nrules: []", "defaults", "keys among escalate_after"),
        ("defaults: {for: soon}\nrules:\n  - {name: A, metric: m, thresholds: {high: 1}}",
         "rule 'A' (line 3): for", "a duration"),
    ],
)  # fmt: skip
def test_errors_name_rule_key_and_expectation(text, where, expected):
    errors = errors_of(text)
    assert any(where in w and expected in msg for w, msg in errors), errors


def test_all_errors_are_reported_at_once():
    errors = errors_of(rule("metric: m\nthresholds: {high: x}\nfor: soon\nop: '~'"))
    assert {w.rsplit(": ", 1)[1] for w, _ in errors} == {"thresholds.high", "for", "op"}


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(RuleFileError, match="nope.yaml"):
        load_rules(tmp_path / "nope.yaml", Thresholds())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(0, 0.0), (15, 15.0), (1.5, 1.5), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0),
     ("2h", 7200.0), ("1m30s", 90.0)],
)  # fmt: skip
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5ms", "m", "-1", True, "1d", None])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_deploy_rule_file_is_the_seed_thresholds():
    shipped = load_rules(DEPLOY / "toka-rules.yaml", Thresholds())
    builtin = load_rules(None, Thresholds())
    for a, b in zip(shipped.rules, builtin.rules, strict=True):
        assert (a.name, a.metric, a.field, a.op, a.levels) == (b.name, b.metric, b.field, b.op,
                                                               b.levels)  # fmt: skip
    cpu, mem, *findings = shipped.rules
    assert {r.kind for r in findings} == {"finding"}
    assert [(lv.severity, lv.value) for lv in cpu.levels] == [("warning", 70), ("critical", 85)]
    assert [(lv.severity, lv.value) for lv in mem.levels] == [("warning", 75), ("critical", 90)]
    # warnings wait for a sustained condition, critical fires on one window
    assert [lv.for_ for lv in cpu.levels] == [30.0, None] == [lv.for_ for lv in mem.levels]
    assert (cpu.pending_for(2), cpu.pending_for(4)) == (30.0, 0.0)


def test_cli_rules_check(tmp_path, capsys):
    assert main(["rules", "check", str(DEPLOY / "toka-rules.yaml")]) == 0
    assert "OK, 6 rule(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(rule("metric: m\nthresholds: {high: 1}\nfor: soon"))
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: 1 error(s)" in err
    assert "rule 'R' (line 2): for: expected a duration" in err


def test_defaults_apply_unless_a_rule_sets_its_own():
    rs = parse_rules(
        textwrap.dedent("""
    defaults:
      for: 1m
      flap: {window: 10m, max_changes: 4, settle: 5m}
      labels: {team: sre}
    rules:
      - {name: A, metric: m, thresholds: {high: 1}}
      - {name: B, metric: m, thresholds: {high: 1}, for: 0, labels: {team: db, tier: '1'}}
    """)
    )
    a, b = rs.rules
    assert (a.for_, a.flap.max_changes, dict(a.labels)) == (60.0, 4, {"team": "sre"})
    assert (b.for_, b.flap.settle, dict(b.labels)) == (0.0, 300.0, {"team": "db", "tier": "1"})
