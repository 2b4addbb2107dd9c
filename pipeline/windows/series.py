"""One series' window state: its panes, and the last counter point before them."""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import blake2b
from typing import Any

from pipeline.windows.aggregate import (
    Pane,
    Point,
    by_ts,
    counter_rate,
    gauge_quantiles,
    histogram,
    totals,
)
from schemas.records import WindowAggregate

__all__ = ["Series", "series_id", "window_span"]

_NEVER = -(2**62)


def window_span(t0: float, t1: float) -> bytes:
    """The part of a window id's hash input after the sid (see aggregate.window_id)."""
    return f"{t0!r}|{t1!r}".encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_id(host: str, name: str, labels: Mapping[str, str]) -> str:
    """Prometheus-like id: ``name{host="h",k="v"}``, host first, other labels sorted.

    A sample's own ``host`` label wins over the batch host (as Prometheus' honor_labels).
    An empty host (overflow series) is left out.
    """
    parts = [f'host="{_escape(host)}"'] if host and "host" not in labels else []
    parts.extend(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{','.join(parts)}}}"


class Series:
    __slots__ = ("sid", "host", "name", "labels", "kind", "overflow", "panes", "last_seen",
                 "closed_until", "ref", "keys", "cur_p", "cur", "_id_prefix", "_labels",
                 "__weakref__")  # fmt: skip

    def __init__(
        self, sid: str, host: str, name: str, labels: tuple[tuple[str, str], ...],
        kind: str, *, overflow: bool = False,
    ) -> None:  # fmt: skip
        self.sid = sid
        self.host = host
        self.name = name
        self.labels = labels  # sorted (key, value) pairs, without the batch host
        self.kind = kind
        self.overflow = overflow
        self.panes: dict[int, Pane] = {}
        self.last_seen = 0.0  # wall clock; a series never fed expires at the next scan
        # Samples for panes before this are late for this series (set by an idle close).
        self.closed_until = _NEVER
        # Last counter/histogram point of the panes already dropped: the rate's baseline.
        self.ref: Point | None = None
        # (batch host, key) of every store cache entry pointing here (to forget on expiry):
        # with a sample's own host label, several batch hosts may cache one series.
        self.keys: list[tuple[str, Any]] = []
        # The pane the last sample went to: consecutive samples skip the dict lookup.
        self.cur_p: int | None = None
        self.cur: Pane | None = None
        # Built once, not per aggregate: the window id's hash input starts with the sid
        # (aggregate.window_id), and each aggregate gets a copy of the labels dict.
        self._id_prefix = f"{sid}|".encode()
        self._labels = dict(labels)

    def drop_pane(self, p: int) -> None:
        pane = self.panes.pop(p, None)
        if p == self.cur_p:
            self.cur_p = self.cur = None
        if pane is not None and pane.points:
            pts = pane.points
            last = pts[0] if len(pts) == 1 else max(pts, key=by_ts)
            if self.ref is None or last[0] >= self.ref[0]:
                self.ref = last

    def _ref_before(self, start: int, start_ts: float) -> Point | None:
        # Usually no pane precedes the window (closed in order): one C-level min says so.
        if min(self.panes, default=start) < start:
            earlier = [p for p in self.panes if p < start and self.panes[p].points]
            if earlier:
                return max(self.panes[max(earlier)].points, key=by_ts)
        if self.ref is not None and self.ref[0] < start_ts:
            return self.ref
        return None

    def aggregate(
        self, start: int, end: int, width_ms: int, alpha: float, *, sketch: bool = False,
        span: bytes | None = None,
    ) -> WindowAggregate | None:  # fmt: skip
        """The window [start, end) in panes, or None when the series has no sample in it.

        ``span``: ``window_span(t0, t1)``, when the caller has it for many series.
        """
        if end - start == 1:  # tumbling at pane width: the window is one pane
            one = self.panes.get(start)
            if one is None:
                return None
            panes = [one]
        else:
            panes = [self.panes[p] for p in range(start, end) if p in self.panes]
            if not panes:
                return None
        t0 = start * width_ms / 1000
        t1 = end * width_ms / 1000
        if span is None:
            span = window_span(t0, t1)
        wid = blake2b(self._id_prefix + span, digest_size=16).hexdigest()
        kind = self.kind
        if len(panes) == 1:
            one = panes[0]
            count, total, lo, hi, last = one.count, one.sum, one.min, one.max, one.last
            if count == 1 and kind == "gauge" and one.sketch is None:
                # One value (the production default: scrape interval = window): every
                # quantile is it, as gauge_quantiles would say.
                v = one.vals[0]
                return WindowAggregate(
                    wid, self.sid, self.name, self.host, t0, t1, 1, total, lo, hi, total / 1, last,
                    self._labels.copy(), kind, None, v, v, v, v,
                )  # fmt: skip
        else:
            count, total, lo, hi, last = totals(panes)
        # Positional, in WindowAggregate's field order: a quarter of the keyword cost.
        head = (wid, self.sid, self.name, self.host, t0, t1, count, total, lo, hi,
                total / count, last, self._labels.copy(), kind)  # fmt: skip
        if kind == "gauge":
            q50, q90, q95, q99, sk = gauge_quantiles(panes, alpha, sketch=sketch and count > 1)
            return WindowAggregate(*head, None, q50, q90, q95, q99, None, None, None, sk)
        if kind == "counter":
            return WindowAggregate(*head, counter_rate(panes, self._ref_before(start, t0)))
        if kind == "histogram":
            h = histogram(panes, self._ref_before(start, t0))
            return WindowAggregate(
                *head, h.get("rate"), h.get("p50"), h.get("p90"), h.get("p95"), h.get("p99"),
                h.get("buckets"), h.get("observations"), h.get("observations_sum"),
            )  # fmt: skip
        return WindowAggregate(*head)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid, "host": self.host, "name": self.name,
            "labels": [list(kv) for kv in self.labels], "kind": self.kind,
            "overflow": self.overflow, "last_seen": self.last_seen,
            "closed_until": self.closed_until,
            "ref": _point_out(self.ref) if self.ref is not None else None,
            "panes": [[p, pane.to_dict()] for p, pane in self.panes.items()],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Series:
        labels = tuple((k, v) for k, v in d["labels"])
        ser = cls(d["sid"], d["host"], d["name"], labels, d["kind"], overflow=d["overflow"])
        ser.last_seen = d["last_seen"]
        ser.closed_until = d["closed_until"]
        ser.ref = _point_in(d["ref"]) if d["ref"] is not None else None
        ser.panes = {int(p): Pane.from_dict(pd) for p, pd in d["panes"]}
        return ser


def _point_out(pt: Point) -> list[Any]:
    return [pt[0], pt[1]] if len(pt) == 2 else [pt[0], pt[1], pt[2], pt[3]]


def _point_in(x: list[Any]) -> Point:
    if len(x) == 2:
        return (x[0], x[1])
    return (x[0], x[1], [tuple(b) for b in x[2]] if x[2] is not None else None, x[3])
