"""Straggler windows: a series' windows the partition has already closed without it.

The partition closes a window once its watermark or the sources' promises pass it; a host
that was not there yet (a new host, one back from a pause, one whose clock runs behind)
may still send samples for it. Judged by its own watermark they are on time, so they are
kept in the series' panes (core.py keeps those panes out of the partition's close) and
its windows are emitted here once its own watermark minus grace, or its own completeness
promise, passes their end. The series then refuses later samples for them (``closed_until``),
as after any close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.windows.order import Group

if TYPE_CHECKING:
    from pipeline.windows.core import WindowStore

__all__ = ["close_stragglers"]


def close_stragglers(store: WindowStore, promise_of: Callable[[str], float] | None) -> list[Group]:
    out: list[Group] = []
    width = store.width
    for ser, panes in list(store.stragglers.items()):
        own = store.host_watermarks.get(ser.host, float("-inf")) - store.grace
        if promise_of is not None:
            own = max(own, promise_of(ser.host))
        if own == float("-inf"):
            continue
        limit = int(own // width)  # windows ending at or before this pane are complete
        if store._blocks:
            store._blocks.materialize(store.alpha, before=limit)
        closed_until = ser.closed_until
        for i, spec in enumerate(store.specs):
            # Only windows the partition has closed: later ones close the ordinary way.
            upto = min(limit, store._emitted[i])
            for st in sorted(spec.windows_over(sorted(panes))):
                end = st + spec.size
                if ser.closed_until < end <= upto:
                    agg = ser.aggregate(st, end, store._width_ms, store.alpha,
                                        sketch=store.emit_sketches)  # fmt: skip
                    if agg is not None:
                        out.append((agg.window_end, agg.window_start, [agg]))
                    closed_until = max(closed_until, end)
        ser.closed_until = closed_until
        done = [
            p for p in panes
            if all(s.last_end_containing(p) <= min(limit, store._emitted[i])
                   for i, s in enumerate(store.specs))
        ]  # fmt: skip
        for p in done:
            panes.discard(p)
            if p not in store._by_pane or ser not in store._by_pane[p]:
                ser.drop_pane(p)  # the partition's close has let go of it already
        if not panes:
            del store.stragglers[ser]
        store._flush_epoch += 1
    return out
