"""Rule unit tests in the spirit of ``promtool test rules``: input series and the alerts
expected at given times, run through the real engine with a simulated clock.

Each value of an input series is one closed window ending at ``index x interval``; at an
``eval_time`` every window ending by then has been evaluated and the timer has ticked, and
the alerts firing for ``alertname`` must be exactly ``exp_alerts`` (labels and annotations
listed must match; unlisted ones are not checked).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.alerts.defaults import load_rules
from pipeline.alerts.engine import RuleSet
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.parse import parse_duration
from schemas.config.seed import Thresholds
from schemas.records import Alert, WindowAggregate

__all__ = ["CaseResult", "expand_values", "parse_series", "run_test_file", "run_tests"]

_SERIES = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_TERM = re.compile(r"^(_|stale|-?[\d.eE+-]+?)(?:([+-][\d.eE+-]+)?x(\d+))?$")


@dataclass
class CaseResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    """``name{a="b", c="d"}`` -> (name, labels)."""
    m = _SERIES.match(text)
    if m is None:
        raise ValueError(f'expected a series like name{{label="value"}}, got {text!r}')
    labels: dict[str, str] = {}
    body = (m.group(2) or "").strip()
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if lm is None:
            raise ValueError(f'expected label="value" pairs in {text!r}')
        labels[lm.group(1)] = lm.group(2).replace('\\"', '"')
        pos = lm.end()
    return m.group(1), labels


def expand_values(text: str) -> list[float | None]:
    """promtool's notation: ``1 2 3``, ``a+bxn`` (n+1 values from a by b), ``axn``, ``_``
    and ``stale`` (no window), ``_xn`` (n missing windows)."""
    out: list[float | None] = []
    for term in str(text).split():
        m = _TERM.match(term)
        if m is None:
            raise ValueError(f"expected a value, a+bxn, axn or _ in values, got {term!r}")
        base, step, times = m.groups()
        if base in ("_", "stale"):
            out += [None] * (int(times) if times else 1)
            continue
        start, inc = float(base), float(step) if step else 0.0
        out += [start + i * inc for i in range(int(times) + 1)] if times else [start]
    return out


def run_test_file(path: str | Path, thresholds: Thresholds) -> list[CaseResult]:
    """Load a test file and the rule files it names (relative to it; none: built-in)."""
    source = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(source, [("(file)", f"expected a readable YAML file: {exc}")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise RuleFileError(source, [("tests", "expected a mapping with a `tests:` list")])
    files = doc.get("rule_files") or [None]
    if not isinstance(files, list) or len(files) != 1:
        raise RuleFileError(source, [("rule_files", "expected a list with one rule file")])
    rule_file = None if files[0] is None else Path(path).parent / str(files[0])
    return run_tests(doc, lambda: load_rules(rule_file, thresholds), source)


def run_tests(doc: dict[str, Any], make: Callable[[], RuleSet], source: str) -> list[CaseResult]:
    default_step = _duration(doc.get("evaluation_interval", "10s"), source, "evaluation_interval")
    results = []
    for i, case in enumerate(doc["tests"]):
        name = str(case.get("name", f"tests[{i}]")) if isinstance(case, dict) else f"tests[{i}]"
        if not isinstance(case, dict):
            raise RuleFileError(source, [(f"tests[{i}]", "expected a mapping")])
        step = _duration(case.get("interval", default_step), source, f"{name}: interval")
        results.append(_run_case(name, case, make(), step, source))
    return results


def _run_case(name: str, case: dict[str, Any], rs: RuleSet, step: float, src: str) -> CaseResult:
    windows: dict[int, list[WindowAggregate]] = {}
    for j, spec in enumerate(case.get("input_series") or []):
        where = f"{name}: input_series[{j}]"
        try:
            metric, labels = parse_series(spec["series"])
            values = expand_values(spec["values"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RuleFileError(src, [(where, f"expected series and values: {exc}")]) from None
        host = labels.pop("host", "test-host")
        for k, v in enumerate(values):
            if v is not None:
                windows.setdefault(k, []).append(
                    _window(metric, host, labels, v, end=k * step, step=step)
                )
    checks = []
    for j, chk in enumerate(case.get("alert_rule_test") or []):
        where = f"{name}: alert_rule_test[{j}]"
        if not isinstance(chk, dict) or "alertname" not in chk:
            raise RuleFileError(src, [(where, "expected eval_time, alertname, exp_alerts")])
        checks.append((_duration(chk.get("eval_time", 0), src, f"{where}: eval_time"), chk))
    result = CaseResult(name)
    states: dict[str, Any] = {}
    active: dict[tuple[str, str], Alert] = {}
    last = max([t for t, _ in checks] + [0.0])
    k = 0
    while k * step <= last + 1e-9:
        now = k * step
        for agg in windows.get(k, []):
            _track(active, rs.evaluate(agg, states, now))
        _track(active, rs.tick(states, now))
        for t, chk in checks:
            if now - 1e-9 <= t < now + step - 1e-9:  # the state as of the last step <= t
                _compare(result, t, chk, active)
        k += 1
    return result


def _window(
    metric: str, host: str, labels: dict[str, str], v: float, *, end: float, step: float
) -> WindowAggregate:
    return WindowAggregate(
        id=f"{metric}/{host}/{end}",
        series=f"{host}/{metric}/{sorted(labels.items())}",
        name=metric,
        host=host,
        window_start=end - step,
        window_end=end,
        count=1,
        sum=v,
        min=v,
        max=v,
        mean=v,
        last=v,
        labels=dict(labels),
        rate=v,
        p50=v,
        p90=v,
        p95=v,
        p99=v,
    )


def _track(active: dict[tuple[str, str], Alert], alerts: list[Alert]) -> None:
    for a in alerts:
        key = (a.fingerprint, a.labels.get("severity", ""))
        if a.status == "firing":
            active[key] = a
        else:
            active.pop(key, None)


def _compare(result: CaseResult, t: float, chk: dict[str, Any], active: dict) -> None:
    got = [a for a in active.values() if a.labels.get("alertname") == chk["alertname"]]
    want = list(chk.get("exp_alerts") or [])
    unmatched = list(got)
    missing = []
    for exp in want:
        labels, ann = exp.get("exp_labels") or {}, exp.get("exp_annotations") or {}
        hit = next(
            (a for a in unmatched if _sub(labels, a.labels) and _sub(ann, a.annotations)), None
        )
        if hit is None:
            missing.append(exp)
        else:
            unmatched.remove(hit)
    if missing or unmatched:
        want_s = ", ".join(_show(e.get("exp_labels") or {}) for e in want)
        got_s = ", ".join(_show(a.labels) for a in got)
        result.failures.append(
            f"at {t:g}s, alertname {chk['alertname']}: expected [{want_s}], got [{got_s}]"
        )


def _sub(want: dict[str, Any], have: dict[str, str]) -> bool:
    return all(have.get(str(k)) == str(v) for k, v in want.items())


def _show(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "toka_group") + "}"


def _duration(value: Any, source: str, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise RuleFileError(
            source, [(where, f"expected a duration like 30s, got {value!r}")]
        ) from None
