"""Rule files (YAML) into a RuleSet (the built-in rules from thresholds are defaults.py).

Every problem is collected, not only the first, and named by rule, key and what was
expected, so ``toka rules check`` can list them all at once. One rule's keys are checked in
rule_spec.py.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.alerts.engine import RuleSet
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.model import Grouping, Rule
from pipeline.alerts.rule_spec import RuleParser, parse_duration

__all__ = ["parse_duration", "parse_rules"]


def parse_rules(
    text: str, source: str = "<string>", default_window: float | None = None
) -> RuleSet:
    errors: list[tuple[str, str]] = []
    try:
        doc = yaml.safe_load(text)
        lines = _rule_lines(text)
    except yaml.YAMLError as exc:
        raise RuleFileError(source, [("(file)", f"expected valid YAML: {exc}")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RuleFileError(
            source, [("rules", "expected a top-level mapping with a `rules:` list")]
        )
    # YAML keys may be any scalar (1, null, ""): name each as the file would show it.
    for key in sorted((k for k in doc if k not in _TOP_LEVEL), key=str):
        path = key if isinstance(key, str) and key else repr(key)
        errors.append((path, "unknown top-level key (expected rules, grouping, defaults)"))
    grouping = _grouping(doc.get("grouping"), errors)
    defaults = _defaults(doc.get("defaults"), errors)
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["rules"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"rule {name!r}" if isinstance(name, str) else f"rules[{i}]"
        if i < len(lines):
            where += f" (line {lines[i]})"
        spec = raw
        if isinstance(raw, dict) and defaults:
            labels = {**defaults.get("labels", {}), **(raw.get("labels") or {})}
            spec = {**defaults, **raw} | ({"labels": labels} if labels else {})
        rule = RuleParser(where, errors).build(spec)
        if rule is None:
            continue
        if rule.name in seen:
            errors.append(
                (f"{where}: name", f"expected a unique name, {rule.name!r} is used twice")
            )
        seen.add(rule.name)
        rules.append(rule)
    if errors:
        raise RuleFileError(source, errors)
    return RuleSet(rules, grouping, source=source, default_window=default_window)


_TOP_LEVEL = frozenset({"rules", "grouping", "defaults"})


def _rule_lines(text: str) -> list[int]:
    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return []
    for k, v in node.value:
        if k.value == "rules" and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []


_DEFAULT_KEYS = {"for", "keep_firing_for", "escalate_after", "flap", "window", "labels"}


def _defaults(raw: Any, errors: list[tuple[str, str]]) -> dict[str, Any]:
    """Keys every rule gets unless it sets them itself (labels are merged)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - _DEFAULT_KEYS:
        expected = ", ".join(sorted(_DEFAULT_KEYS))
        errors.append(("defaults", f"expected a mapping with keys among {expected}"))
        return {}
    if not isinstance(raw.get("labels", {}), dict):
        errors.append(("defaults.labels", "expected a mapping of names to strings"))
        return {}
    return raw


def _grouping(raw: Any, errors: list[tuple[str, str]]) -> Grouping:
    if raw is None:
        return Grouping()
    if not isinstance(raw, dict) or set(raw) - {"by", "window"}:
        errors.append(("grouping", "expected a mapping with keys by (label list), window"))
        return Grouping()
    by = raw.get("by", ["host"])
    if not isinstance(by, list) or not all(isinstance(x, str) for x in by):
        errors.append(("grouping.by", f"expected a list of label names, got {by!r}"))
        by = ["host"]
    try:
        window = parse_duration(raw.get("window", 300))
    except ValueError:
        errors.append(("grouping.window", f"expected a duration like 5m, got {raw['window']!r}"))
        window = 300.0
    return Grouping(tuple(by), window)
