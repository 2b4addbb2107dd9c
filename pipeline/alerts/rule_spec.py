"""One rule's YAML mapping into a Rule (pipeline.alerts.model), and durations.

Every problem is collected as ``(where: key, expectation)``, not only the first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from pipeline.alerts.engine import GROUP_LABEL
from pipeline.alerts.findings import CLEAR_AFTER, FINDING_KINDS, FINDING_PREFIX
from pipeline.alerts.model import (
    COMPARATORS,
    FIELDS,
    SEVERITY_RANK,
    AbsenceSpec,
    FindingSpec,
    FlapSpec,
    Level,
    Matcher,
    RatioSpec,
    Rule,
)
from pipeline.alerts.templating import check_template

__all__ = ["RuleParser", "parse_duration"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")
_RULE_KEYS = {
    "name",
    "metric",
    "match",
    "field",
    "op",
    "thresholds",
    "hysteresis",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "escalate_after",
    "flap",
    "ratio",
    "absent",
    "finding",
    "clear_after",
    "severity",
    "window",
}
_RESERVED_LABELS = {"alertname", "severity", GROUP_LABEL}
_DEFAULT_SUMMARY = (
    "{{ $labels.alertname }} on {{ $labels.host }}: {{ $value }} (threshold {{ $threshold }})"
)
_FINDING_SUMMARY = (
    "{{ $labels.alertname }}: {{ $labels.name }} on {{ $labels.host }} at {{ $value }}"
    " (threshold {{ $threshold }})"
)
_ABSENT_SUMMARY = 'no data from {{ $labels.host }} for {{ $value | printf "%.0f" }}s'


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``90s``, ``5m``, ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError
        return float(value)
    m = _DURATION.match(str(value).strip()) if isinstance(value, str) and value.strip() else None
    if m is None or not any(m.groups()):
        raise ValueError
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


class RuleParser:
    """One rule's parse, collecting errors as ``(where: key, expectation)``."""

    def __init__(self, where: str, errors: list[tuple[str, str]]) -> None:
        self.where = where
        self.errors = errors

    def err(self, key: str, msg: str) -> None:
        self.errors.append((f"{self.where}: {key}", msg))

    def get(
        self,
        raw: dict[str, Any],
        key: str,
        conv: Callable[[Any], Any],
        expected: str,
        default: Any,
        *,
        prefix: str = "",
    ) -> Any:
        if key not in raw:
            return default
        try:
            return conv(raw[key])
        except (ValueError, TypeError):
            self.err(prefix + key, f"expected {expected}, got {raw[key]!r}")
            return default

    def build(self, raw: Any) -> Rule | None:
        if not isinstance(raw, dict):
            self.err("(rule)", f"expected a mapping, got {type(raw).__name__}")
            return None
        n = len(self.errors)
        for key in sorted(set(raw) - _RULE_KEYS):
            self.err(key, "unknown key (expected one of " + ", ".join(sorted(_RULE_KEYS)) + ")")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            self.err("name", f"expected an identifier like HighCpu, got {name!r}")
        dur = "a duration like 30s, 5m, 1h or a number of seconds"
        finding = self._finding(raw)
        kind, metric, ratio, absence = self._kind(raw)
        if finding is not None:
            kind, metric = "finding", FINDING_PREFIX + finding.kind
        op = raw.get("op", ">")
        if not isinstance(op, str) or op not in COMPARATORS:
            self.err("op", f"expected one of {', '.join(COMPARATORS)}, got {op!r}")
            op = ">"
        field = raw.get("field", "sum" if kind == "ratio" else "mean")
        if field not in FIELDS:
            self.err("field", f"expected one of {', '.join(FIELDS)}, got {field!r}")
        flap = self._flap(raw.get("flap"))
        labels = self._strmap(raw, "labels")
        for bad in sorted(_RESERVED_LABELS & set(labels)):
            self.err(f"labels.{bad}", "expected a label the engine does not set itself")
        annotations = self._strmap(raw, "annotations")
        for key, text in annotations.items():
            for problem in check_template(text):
                self.err(f"annotations.{key}", problem)
        summary = _FINDING_SUMMARY if finding else _DEFAULT_SUMMARY
        annotations.setdefault("summary", _ABSENT_SUMMARY if absence else summary)
        levels = self._absent_level(raw, absence) if absence else self._levels(raw, op)
        rule = Rule(
            name=str(name),
            metric=metric,
            kind=kind,
            matchers=self._matchers(raw.get("match")),
            field=field,
            op=op,
            levels=levels,
            for_=self.get(raw, "for", parse_duration, dur, 0.0),
            keep_firing_for=self.get(raw, "keep_firing_for", parse_duration, dur, 0.0),
            labels=labels,
            annotations=annotations,
            escalate_after=self.get(raw, "escalate_after", parse_duration, dur, None),
            flap=flap,
            ratio=ratio,
            absence=absence,
            finding=finding,
            window=self.get(raw, "window", _positive_duration, "a window length like 10s", None),
        )
        return rule if len(self.errors) == n else None

    def _finding(self, raw: dict[str, Any]) -> FindingSpec | None:
        kind = raw.get("finding")
        if kind is None:
            if "clear_after" in raw:
                self.err("clear_after", "expected only on a finding rule")
            return None
        if kind not in FINDING_KINDS:
            self.err("finding", f"expected one of {', '.join(FINDING_KINDS)}, got {kind!r}")
            return None
        for key in ("metric", "ratio", "absent", "field"):
            if key in raw:
                self.err(key, "expected no metric, ratio, absent or field on a finding rule")
        after = self.get(
            raw, "clear_after", _positive_duration, "a duration like 10m", CLEAR_AFTER[kind]
        )
        return FindingSpec(kind, after)

    def _kind(self, raw: dict[str, Any]) -> tuple[Any, str, RatioSpec | None, AbsenceSpec | None]:
        if raw.get("finding") is not None:
            return "finding", "", None, None
        metric, ratio, absent = raw.get("metric"), raw.get("ratio"), raw.get("absent")
        if isinstance(ratio, dict) and True in ratio:
            # YAML 1.1 reads a bare `on` key as the boolean true
            ratio = {("on" if k is True else k): v for k, v in ratio.items()}
        if ratio is not None:
            if metric is not None or absent is not None:
                self.err("ratio", "expected either metric or ratio, not both")
            if (
                not isinstance(ratio, dict)
                or not {"numerator", "denominator"} <= set(ratio)
                or set(ratio) - {"numerator", "denominator", "on"}
            ):
                self.err(
                    "ratio",
                    "expected a mapping with numerator, denominator (series "
                    "names) and optional on (label list)",
                )
                return "ratio", "", RatioSpec("", ""), None
            on = ratio.get("on")
            if on is not None and (
                not isinstance(on, list) or not all(isinstance(x, str) for x in on)
            ):
                self.err("ratio.on", f"expected a list of label names, got {on!r}")
                on = None
            spec = RatioSpec(
                str(ratio["numerator"]),
                str(ratio["denominator"]),
                tuple(on) if on is not None else None,
            )
            return "ratio", spec.numerator, spec, None
        if not isinstance(metric, str) or not metric:
            self.err("metric", f"expected a series name such as system_cpu_percent, got {metric!r}")
            metric = ""
        if absent is None:
            return "threshold", metric, None, None
        if not isinstance(absent, dict) or "for" not in absent or set(absent) - {"for", "by"}:
            self.err("absent", "expected a mapping with for (duration) and optional by (labels)")
            return "absence", metric, None, AbsenceSpec(60.0)
        after = self.get(
            absent, "for", _positive_duration, "a duration like 2m", 60.0, prefix="absent."
        )
        by = absent.get("by")
        if by is not None and (not isinstance(by, list) or not all(isinstance(x, str) for x in by)):
            self.err("absent.by", f"expected a list of label names such as [host], got {by!r}")
            by = None
        return "absence", metric, None, AbsenceSpec(after, tuple(by) if by is not None else None)

    def _levels(self, raw: dict[str, Any], op: str) -> tuple[Level, ...]:
        th = raw.get("thresholds")
        if not isinstance(th, dict) or not th:
            self.err(
                "thresholds",
                "expected a mapping of severity (low, medium|warning, high, "
                f"critical) to a number or {{value, resolve, for}}, got {th!r}",
            )
            return ()
        hyst = self.get(raw, "hysteresis", _nonneg, "a number >= 0", 0.0)
        sign = 1.0 if op in (">", ">=") else -1.0
        levels: list[Level] = []
        for sev, spec in th.items():
            key = f"thresholds.{sev}"
            if sev not in SEVERITY_RANK:
                self.err(key, "expected a severity: low, medium (or warning), high, critical")
                continue
            value, resolve, pending = spec, None, None
            if isinstance(spec, dict):
                value, resolve = spec.get("value"), spec.get("resolve")
                if set(spec) - {"value", "resolve", "for"}:
                    self.err(key, "expected keys value, resolve and for only")
                pending = self.get(
                    spec, "for", parse_duration, "a duration like 30s", None, prefix=f"{key}."
                )
            if not _is_number(value) or (resolve is not None and not _is_number(resolve)):
                self.err(key, f"expected a number or {{value, resolve}} numbers, got {spec!r}")
                continue
            resolve = value - sign * hyst if resolve is None else resolve
            if sign * (resolve - value) > 0:
                side = "at or below" if sign > 0 else "at or above"
                self.err(
                    f"{key}.resolve", f"expected {side} the firing value {value}, got {resolve}"
                )
            levels.append(Level(sev, float(value), float(resolve), pending))
        levels.sort(key=lambda lv: lv.rank)
        for a, b in zip(levels, levels[1:], strict=False):
            if a.rank == b.rank:
                self.err("thresholds", f"expected one of {a.severity}/{b.severity}: same rank")
            elif sign * (b.value - a.value) <= 0:
                self.err(
                    f"thresholds.{b.severity}",
                    f"expected a stricter value than {a.severity} ({a.value}) for op {op}, "
                    f"got {b.value}",
                )
        return tuple(levels)

    def _absent_level(self, raw: dict[str, Any], absence: AbsenceSpec) -> tuple[Level, ...]:
        sev = raw.get("severity", "critical")
        if sev not in SEVERITY_RANK:
            self.err("severity", f"expected low, medium, warning, high or critical, got {sev!r}")
            sev = "critical"
        if "thresholds" in raw:
            self.err("thresholds", "expected no thresholds on an absence rule (use severity)")
        return (Level(sev, absence.after, absence.after),)

    def _matchers(self, raw: Any) -> tuple[Matcher, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            self.err("match", f"expected a mapping of label to value, got {raw!r}")
            return ()
        out = []
        for label, spec in raw.items():
            if not isinstance(spec, str):
                self.err(
                    f"match.{label}",
                    f"expected a string such as 'total', '!=x', '=~re', '!~re', got {spec!r}",
                )
                continue
            op, value = "=", spec
            for prefix in ("=~", "!~", "!=", "="):
                if spec.startswith(prefix):
                    op, value = prefix, spec[len(prefix) :]
                    break
            regex = None
            if "~" in op:
                try:
                    regex = re.compile(value)
                except re.error as exc:
                    self.err(f"match.{label}", f"expected a valid regular expression: {exc}")
                    continue
            out.append(Matcher(str(label), op, value, regex))  # type: ignore[arg-type]
        return tuple(out)

    def _strmap(self, raw: dict[str, Any], key: str) -> dict[str, str]:
        val = raw.get(key, {})
        if not isinstance(val, dict) or not all(isinstance(v, str) for v in val.values()):
            self.err(key, f"expected a mapping of names to strings, got {val!r}")
            return {}
        return {str(k): v for k, v in val.items()}

    def _flap(self, raw: Any) -> FlapSpec | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) - {"window", "max_changes", "settle"}:
            self.err("flap", "expected a mapping with window, max_changes, settle")
            return None
        dur = "a duration like 10m"
        window = self.get(raw, "window", _positive_duration, dur, 600.0, prefix="flap.")
        settle = self.get(raw, "settle", parse_duration, dur, window / 2, prefix="flap.")
        changes = self.get(raw, "max_changes", _min2, "an integer >= 2", 4, prefix="flap.")
        return FlapSpec(window, changes, settle)


def _positive_duration(v: Any) -> float:
    d = parse_duration(v)
    if d <= 0:
        raise ValueError
    return d


def _is_number(v: Any) -> bool:
    # .inf and .nan are YAML floats, but no threshold: nothing exceeds .inf, and an alert
    # record could not carry them (JSON has neither).
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _nonneg(v: Any) -> float:
    if not _is_number(v) or v < 0:
        raise ValueError
    return float(v)


def _min2(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 2:
        raise ValueError
    return v
