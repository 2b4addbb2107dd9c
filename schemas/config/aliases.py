"""Keys that say the same thing as another key, and keys that were replaced.

The specification's blocks (``performance``, ``monitoring``, ``dashboard``) repeat switches
that live elsewhere. Each pair has one canonical key, the one code reads; the alias is
accepted and copied to it, so a file may set either. Setting both to different values is
an error naming both (no silent winner). After resolution both keys hold the same value,
so whichever a reader looks at, it sees the truth.

A replaced key is refused with the name of the key that took its place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALIASES", "REPLACED", "resolve_aliases"]

#: canonical key -> its aliases (dotted paths from the root of the configuration).
ALIASES: dict[str, tuple[str, ...]] = {
    "monitoring.enabled": ("performance.monitoring_enabled",),
    "dashboard.enabled": ("performance.dashboard_enabled",),
    "analytics.regressions.enabled": ("performance.regression_detection_enabled",),
    "agent.interval_seconds": (
        "performance.metrics_interval_seconds",
        "monitoring.interval_seconds",
    ),
}

#: refused key -> the key that replaced it.
REPLACED: dict[str, str] = {
    "performance.anomaly_detection_enabled": "analytics.anomalies.enabled",
    "performance.capacity_planning_enabled": "analytics.capacity.enabled",
}

_MISSING = object()


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):  # a block passed as an object (tests, model_copy)
        return {k: getattr(value, k) for k in value.model_fields_set}
    return None


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = _as_dict(node)
        if node is None or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            as_dict = _as_dict(child)
            if as_dict is None:
                return  # not a mapping: the block's own validation reports it
            child = node[part] = as_dict
        node = child
    node[leaf] = value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip().lower() == str(b).strip().lower()


def resolve_aliases(data: dict[str, Any]) -> list[str]:
    """Copy every alias to its canonical key and back, in place.

    Returns the problems as ``"key: message"`` lines (conflicts, replaced keys); empty when
    the data is consistent.
    """
    problems: list[str] = []
    for old, new in REPLACED.items():
        if _get(data, old) is not _MISSING:
            problems.append(f"{old}: replaced by {new} (set that key instead)")
    for canonical, aliases in ALIASES.items():
        given = [(p, v) for p in (canonical, *aliases) if (v := _get(data, p)) is not _MISSING]
        if not given:
            continue
        first_path, first = given[0]
        clash = [p for p, v in given[1:] if not _same(v, first)]
        if clash:
            said = ", ".join(f"{p}={v!r}" for p, v in given)
            problems.append(
                f"{canonical}: conflicting values ({said}); {', '.join(aliases)} "
                f"{'is an alias' if len(aliases) == 1 else 'are aliases'} of {canonical}: "
                "set one, or the same value"
            )
            continue
        for path in (canonical, *aliases):
            _set(data, path, first)
    return problems
