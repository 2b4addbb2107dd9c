"""The order close_due emits aggregates in: by window end, window start, then series id.

The same order as one stable sort on that triple (ties keep the order they were made in),
but cheaper: aggregates come in groups of one window each, so only the groups are ordered
by their bounds, and within a group a plain sort on the series id (a string key, no tuple
per aggregate) does the rest.
"""

from __future__ import annotations

from operator import attrgetter

from schemas.records import WindowAggregate

__all__ = ["Group", "in_order"]

#: (window_end, window_start, aggregates of that window, in the order they were made).
Group = tuple[float, float, list[WindowAggregate]]

_SERIES = attrgetter("series")


def in_order(groups: list[Group]) -> list[WindowAggregate]:
    merged: dict[tuple[float, float], list[WindowAggregate]] = {}
    for end, start, aggs in groups:
        have = merged.get((end, start))
        if have is None:
            merged[(end, start)] = aggs
        else:
            have.extend(aggs)
    out: list[WindowAggregate] = []
    for bounds in sorted(merged):
        aggs = merged[bounds]
        aggs.sort(key=_SERIES)  # stable: ties keep the order they were made in
        out.extend(aggs)
    return out
