"""A WindowStore as plain JSON-able data and back.

The worker does not need it (open windows are rebuilt by replaying the records whose acks
were held back, see pipeline/runtime/holdback.py); it serves tools and tests that move a
store whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.windows.series import Series

if TYPE_CHECKING:
    from pipeline.windows.core import WindowStore

__all__ = ["restore_store", "snapshot_store"]


def snapshot_store(store: WindowStore) -> dict[str, Any]:
    store._blocks.materialize(store.alpha)
    return {
        "v": 1,
        "settings": store.settings(),
        "watermark": store.watermark if store.watermark != float("-inf") else None,
        "emitted": store._emitted,
        "series": [ser.to_dict() for ser in store._by_sid.values()],
        "stats": dict(store.stats),
        "host_watermarks": dict(store.host_watermarks),
        "stragglers": {ser.sid: sorted(panes) for ser, panes in store.stragglers.items()},
    }


def restore_store(cls: type[WindowStore], data: Mapping[str, Any], **overrides: Any) -> WindowStore:
    if data.get("v") != 1:
        raise ValueError(f"unknown WindowStore snapshot version {data.get('v')!r}")
    store = cls(**{**data["settings"], **overrides})
    wm = data["watermark"]
    store.watermark = float("-inf") if wm is None else wm
    if len(data["emitted"]) == len(store.specs):
        store._emitted = list(data["emitted"])
    store.stats.update(data.get("stats", {}))
    for d in data["series"]:
        ser = Series.from_dict(d)
        store._by_sid[ser.sid] = ser
        if ser.overflow:
            store.caps.admit_overflow()
        else:
            store.caps.by_metric[ser.name] = store.caps.by_metric.get(ser.name, 0) + 1
            store.caps.series += 1
            key = (ser.name, ser.labels)
            store._hosts.setdefault(ser.host, {})[key] = ser
            ser.keys.append((ser.host, key))
        for p in ser.panes:
            store._by_pane.setdefault(p, set()).add(ser)
    # Absent from snapshots of older releases (same version: these keys are optional).
    store.host_watermarks.update(data.get("host_watermarks", {}))
    for sid, panes in data.get("stragglers", {}).items():
        store.stragglers[store._by_sid[sid]] = set(panes)
    return store
