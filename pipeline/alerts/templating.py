"""Annotation templates in the Prometheus style, without Go templates.

Supported: ``{{ $labels.NAME }}``, ``{{ $value }}``, ``{{ $threshold }}``, ``{{ $severity }}``,
``{{ $rule }}``, each optionally piped through ``printf "%.1f"`` or ``humanize``. Anything
else is refused when the rule file is loaded, so a typo never reaches an incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["check_template", "render"]

_EXPR = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_VAR = re.compile(r"^\$(labels\.[A-Za-z_][A-Za-z0-9_]*|value|threshold|severity|rule)$")
_PRINTF = re.compile(r'^printf\s+"(%[-+ #0]*\d*(?:\.\d+)?[dfegs%])"$')


def check_template(text: str) -> list[str]:
    """Problems in a template (empty list: fine)."""
    problems = []
    for expr in _EXPR.findall(text):
        var, *pipes = [p.strip() for p in expr.split("|")]
        if not _VAR.match(var):
            problems.append(
                f"unknown template variable {var!r} (expected $labels.NAME, $value, "
                "$threshold, $severity or $rule)"
            )
        for pipe in pipes:
            if pipe != "humanize" and not _PRINTF.match(pipe):
                problems.append(
                    f'unknown template function {pipe!r} (expected printf "%..." or humanize)'
                )
    return problems


def render(text: str, labels: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """Fill a checked template. Missing labels render as empty strings, as Prometheus does."""

    def one(m: re.Match[str]) -> str:
        var, *pipes = [p.strip() for p in m.group(1).split("|")]
        name = var[1:]
        val: Any = labels.get(name[7:], "") if name.startswith("labels.") else values.get(name)
        for pipe in pipes:
            val = _humanize(val) if pipe == "humanize" else _printf(pipe, val)
        return _plain(val)

    return _EXPR.sub(one, text)


def _printf(pipe: str, val: Any) -> str:
    m = _PRINTF.match(pipe)
    if m is None:
        return _plain(val)
    try:
        return m.group(1) % val
    except (TypeError, ValueError, OverflowError):  # "%d" of an infinity overflows
        return _plain(val)


def _humanize(val: Any) -> str:
    if not isinstance(val, int | float):
        return _plain(val)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(val) >= factor:
            return f"{val / factor:.4g}{suffix}"
    return f"{val:.4g}"


def _plain(val: Any) -> str:
    if isinstance(val, float):
        return f"{val:.6g}"
    return "" if val is None else str(val)
