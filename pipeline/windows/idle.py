"""Closing by the wall clock: windows of series gone quiet, and series expired from state.

A series silent for ``idle_close`` seconds gets all its open windows out at once (so a host
that stops still gets its last window), and one without open windows silent for
``series_ttl`` seconds is forgotten. Finding them takes a pass over every series; the pass
also notes the oldest ``last_seen`` it saw, and while no series was created since and the
wall clock never stepped back, every series was seen at or after it: a scan before that
bound is old enough to matter has nothing to find and is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.windows.series import Series
from schemas.records import WindowAggregate

if TYPE_CHECKING:
    from pipeline.windows.core import WindowStore

__all__ = ["close_idle"]


def close_idle(store: WindowStore, now: float) -> list[WindowAggregate]:
    out: list[WindowAggregate] = []
    bound = store._seen_bound  # every series' last_seen >= this, or None: unknown
    quiet_since = now - min(store.idle_close, store.series_ttl)
    if bound is not None and not store._clock_back and bound > quiet_since:
        return out  # no series can be idle or expired yet
    if store._blocks:
        # Idle series must have all their samples in panes before a flush, and one whose
        # samples are all in blocks has no panes yet: it must not look expirable (when
        # series_ttl < idle_close).
        limit = quiet_since
        store._blocks.materialize(
            store.alpha,
            where=lambda b: (
                (store._clock_back or b.layout.seen <= limit)
                and any(s.last_seen <= limit for s in b.layout.series)
            ),
        )
    expired: list[Series] = []
    oldest = float("inf")
    for ser in store._by_sid.values():
        idle = now - ser.last_seen
        if ser.panes and idle >= store.idle_close:
            out.extend(_flush_series(store, ser))
        elif not ser.panes and idle >= store.series_ttl:
            expired.append(ser)
            continue
        if ser.last_seen < oldest:  # noqa: PLR1730
            oldest = ser.last_seen
    for ser in expired:
        _expire(store, ser)
    store._seen_bound = oldest  # until a series is created (WindowStore._create)
    return out


def _flush_series(store: WindowStore, ser: Series) -> list[WindowAggregate]:
    """Emit every open window of one series now, and refuse later samples for them."""
    out: list[WindowAggregate] = []
    panes = sorted(ser.panes)
    closed_until = floor = ser.closed_until
    # A straggler's windows were closed for the partition but not yet for it (stragglers.py).
    straggler = ser in store.stragglers
    for i, spec in enumerate(store.specs):
        for st in sorted(spec.windows_over(panes)):
            end = st + spec.size
            if end > store._emitted[i] or (straggler and end > floor):
                agg = ser.aggregate(
                    st, st + spec.size, store._width_ms, store.alpha, sketch=store.emit_sketches
                )
                if agg is not None:
                    out.append(agg)
                closed_until = max(closed_until, st + spec.size)
    for p in panes:
        members = store._by_pane.get(p)
        if members is not None:
            members.discard(ser)
            if not members:
                del store._by_pane[p]
        ser.drop_pane(p)
    ser.closed_until = closed_until
    store.stragglers.pop(ser, None)
    store._flush_epoch += 1
    return out


def _expire(store: WindowStore, ser: Series) -> None:
    del store._by_sid[ser.sid]
    store.stragglers.pop(ser, None)
    # Every batch host that resolved a sample to it caches it (a sample's own host label
    # makes one series of several hosts' samples): all must forget it, or their later
    # samples land in a series no longer registered. Their layouts may hold it too.
    hosts = {ser.host}
    for host, key in ser.keys:
        hosts.add(host)
        hmap = store._hosts.get(host)
        if hmap is not None:
            hmap.pop(key, None)
            if not hmap:
                del store._hosts[host]
                store.host_watermarks.pop(host, None)
    for lkey in [k for k in store._layouts if k[0] in hosts]:
        del store._layouts[lkey]
    store.caps.release(ser.name, ser.overflow)
    store.stats["expired"] += 1
