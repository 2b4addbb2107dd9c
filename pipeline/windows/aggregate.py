"""Per-pane accumulators and their merge into one window's statistics.

A pane holds count/sum/min/max/last and, depending on the series type, the raw values for
the quantile sketch (gauges), or the (ts, value) points for rates (counters), or the
cumulative bucket points (histograms). Raw values are buffered and turned into a sketch in
bulk, so a sample costs a few attribute updates; memory per pane stays bounded because a
full buffer is folded into the pane's sketch and extra points are thinned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from pipeline.windows.sketch import DDSketch

__all__ = [
    "Pane", "Point", "counter_rate", "gauge_quantiles", "histogram", "totals", "window_id",
    "window_stats",
]  # fmt: skip

QUANTILES = (0.5, 0.9, 0.95, 0.99)
_INF = float("inf")
_NEG_INF = float("-inf")
#: Sort key of points: their event time.
by_ts = itemgetter(0)
_PNAMES = ("p50", "p90", "p95", "p99")
#: Windows with at most this many values (and no flushed sketch) get exact quantiles.
_EXACT_UP_TO = 64
#: Buffered raw values per pane before they are folded into the pane's sketch.
_BUFFER = 512
#: Counter/histogram points kept per pane; beyond it, interior points are thinned (the
#: increase is kept exact: see Pane.add_point).
_MAX_POINTS = 64

#: (ts, value) for counters, (ts, value, buckets, hist_sum) for histograms.
Point = tuple[Any, ...]


class Pane:
    __slots__ = ("count", "sum", "min", "max", "last_ts", "last", "vals", "sketch", "points",
                 "carried")  # fmt: skip

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = _INF  # constants: float("inf") calls were half the cost of a new pane
        self.max = _NEG_INF
        self.last_ts = _NEG_INF
        self.last = 0.0
        self.vals: list[float] = []
        self.sketch: DDSketch | None = None
        self.points: list[Point] = []
        # Increase already folded out of thinned points (counters only).
        self.carried = 0.0

    def add(self, v: float, ts: float) -> None:
        """Fold one value into the scalar fields. Both fold paths (per sample in core.py, per
        layout row in layouts.py) call this, so they agree on ties and order."""
        self.count += 1
        self.sum += v
        if v < self.min:  # noqa: PLR1730 (plain compares beat min()/max() calls here)
            self.min = v
        if v > self.max:  # noqa: PLR1730
            self.max = v
        if ts >= self.last_ts:
            self.last_ts = ts
            self.last = v

    def flush(self, alpha: float) -> None:
        if self.sketch is None:
            self.sketch = DDSketch(alpha)
        self.sketch.add_many(self.vals)
        self.vals = []

    def thin(self) -> None:
        """Keep the first and last point only; a counter's increase across the dropped
        points (resets included) is kept exact in ``carried``."""
        pts = sorted(self.points, key=by_ts)
        if len(pts[0]) == 2:
            chain = sum(_delta(a[1], b[1]) for a, b in zip(pts, pts[1:], strict=False))
            self.carried += chain - _delta(pts[0][1], pts[-1][1])
        self.points = [pts[0], pts[-1]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "c": self.count, "s": self.sum, "mn": self.min, "mx": self.max,
            "lt": self.last_ts, "l": self.last, "v": self.vals,
            "sk": self.sketch.to_dict() if self.sketch is not None else None,
            "pt": [list(p) for p in self.points], "ca": self.carried,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pane:
        p = cls()
        p.count, p.sum, p.min, p.max = d["c"], d["s"], d["mn"], d["mx"]
        p.last_ts, p.last, p.vals = d["lt"], d["l"], list(d["v"])
        p.sketch = DDSketch.from_dict(d["sk"]) if d["sk"] is not None else None
        p.points = [_point(x) for x in d["pt"]]
        p.carried = d["ca"]
        return p


def _point(x: list[Any]) -> Point:
    if len(x) == 2:
        return (x[0], x[1])
    return (x[0], x[1], [tuple(b) for b in x[2]] if x[2] is not None else None, x[3])


def _delta(prev: float, cur: float) -> float:
    # A counter that went down was reset to zero in between: its whole value is new.
    return cur - prev if cur >= prev else cur


BUFFER_LIMIT = _BUFFER
POINTS_LIMIT = _MAX_POINTS


def window_id(series: str, start: float, end: float) -> str:
    """Deterministic record id: a window re-emitted after a replay dedupes downstream."""
    return hashlib.blake2b(f"{series}|{start!r}|{end!r}".encode(), digest_size=16).hexdigest()


def window_stats(
    panes: Sequence[Pane], kind: str, ref: Point | None, alpha: float, *, sketch: bool = False
) -> dict[str, Any]:
    """count/sum/min/max/mean/last plus rate, buckets or percentiles for one window.

    ``ref`` is the series' last point before the window (counters and histograms), so a
    window holding a single sample still has a rate. With ``sketch``, gauge windows of two
    or more values also carry their quantile sketch, for exact merges downstream (across
    partitions, hosts or longer windows). (Series.aggregate builds the same from
    ``totals`` and the per-kind helpers without this dict: it runs once per aggregate.)
    """
    count, total, lo, hi, last = totals(panes)
    out: dict[str, Any] = {
        "count": count, "sum": total, "min": lo, "max": hi, "mean": total / count,
        "last": last, "type": kind,
    }  # fmt: skip
    if kind == "gauge":
        q50, q90, q95, q99, sk = gauge_quantiles(panes, alpha, sketch=sketch and count > 1)
        out.update(p50=q50, p90=q90, p95=q95, p99=q99)
        if sk is not None:
            out["sketch"] = sk
    elif kind == "counter":
        out["rate"] = counter_rate(panes, ref)
    elif kind == "histogram":
        out.update(histogram(panes, ref))
    return out


def totals(panes: Sequence[Pane]) -> tuple[int, float, float, float, float]:
    """count, sum, min, max and last value of the panes of one window."""
    if len(panes) == 1:
        p = panes[0]
        return p.count, p.sum, p.min, p.max, p.last
    return (
        sum(p.count for p in panes),
        sum(p.sum for p in panes),
        min(p.min for p in panes),
        max(p.max for p in panes),
        max(panes, key=lambda p: p.last_ts).last,
    )


#: Ranks of the exact quantiles for n values (n <= _EXACT_UP_TO), as the sketch ranks them.
_RANKS = [(0, 0, 0, 0)] + [tuple(int(q * (n - 1)) for q in QUANTILES) for n in range(1, 65)]


def gauge_quantiles(panes: Sequence[Pane], alpha: float, *, sketch: bool) -> tuple[Any, ...]:
    """(p50, p90, p95, p99, sketch dict or None) of a gauge window."""
    if len(panes) == 1:
        p = panes[0]
        vals = p.vals
        small = p.sketch is None and len(vals) <= _EXACT_UP_TO
        if small and len(vals) == 1 and not sketch:
            v = vals[0]  # one value: every quantile is it (the common 1-sample window)
            return v, v, v, v, None
    else:
        vals = []
        for p in panes:
            vals.extend(p.vals)
        small = len(vals) <= _EXACT_UP_TO and all(p.sketch is None for p in panes)
    if small:
        # Few raw values: exact quantiles at the sketch's ranks are cheaper than a sketch.
        ordered = sorted(vals)
        i50, i90, i95, i99 = _RANKS[len(ordered)]
        qs: tuple[Any, ...] = (ordered[i50], ordered[i90], ordered[i95], ordered[i99])
        if not sketch:
            return (*qs, None)
    sk = DDSketch(alpha)
    for p in panes:
        if p.sketch is not None:
            sk.merge(p.sketch)
    sk.add_many(vals)
    if not small:
        qs = tuple(sk.quantiles(QUANTILES))
    return (*qs, sk.to_dict() if sketch else None)


def counter_rate(panes: Sequence[Pane], ref: Point | None) -> float | None:
    if len(panes) == 1:  # the common case: no generator, and 0 or 1 points need no sort
        p = panes[0]
        if len(p.points) == 1 and ref is not None:  # one sample after the baseline
            pt = p.points[0]
            inc = 0 + p.carried  # the same additions, in the same order, as below
            inc += _delta(ref[1], pt[1])
            elapsed = pt[0] - ref[0]
            return inc / elapsed if elapsed > 0 else None
        pts = sorted(p.points, key=by_ts) if len(p.points) > 1 else list(p.points)
        inc = 0 + p.carried  # as sum() would: same value, same type
    else:
        pts = sorted((pt for p in panes for pt in p.points), key=by_ts)
        inc = sum(p.carried for p in panes)
    if ref is not None:
        pts.insert(0, ref)
    if len(pts) < 2:
        return None
    prev = pts[0][1]
    for pt in pts[1:]:
        inc += _delta(prev, pt[1])
        prev = pt[1]
    elapsed = pts[-1][0] - pts[0][0]
    return inc / elapsed if elapsed > 0 else None


def histogram(panes: Sequence[Pane], ref: Point | None) -> dict[str, Any]:
    """Bucket-wise increase over the window (reset-aware) and quantiles from the buckets.

    Points are (ts, total count, finite cumulative buckets, sum): the +Inf bucket is the
    total (schemas.records.Sample). Without a point before the window, the first point's
    cumulative values are only a baseline, unless it is the only point we will ever have.
    """
    pts = sorted((pt for p in panes for pt in p.points), key=by_ts)
    if ref is not None:
        pts.insert(0, ref)
    if not pts:
        return {}
    buckets: dict[float, float] = {}
    count_inc = sum_inc = 0.0
    prev: Point | None = pts[0] if len(pts) > 1 else None
    prev_b = dict(prev[2] or ()) if prev is not None else {}
    for pt in pts[1:] if prev is not None else pts:
        cur_b = dict(pt[2] or ())
        # A layout that only gains bounds (an exponential histogram whose range grew) is
        # not a reset: the previous count at a new bound is its count at the nearest lower
        # bound, exact when no earlier observation lay between them.
        reset = (
            prev is None
            or pt[1] < prev[1]
            or not cur_b.keys() >= prev_b.keys()
            or any(cur_b[le] < c for le, c in prev_b.items())
        )
        if not reset and cur_b.keys() != prev_b.keys():
            prev_b = _extend_layout(prev_b, cur_b)
        for le, c in cur_b.items():
            buckets[le] = buckets.get(le, 0.0) + (c if reset else c - prev_b[le])
        count_inc += pt[1] if reset else pt[1] - prev[1]  # type: ignore[index]
        cur_sum = pt[3] or 0.0
        sum_inc += cur_sum if reset else cur_sum - (prev[3] or 0.0)  # type: ignore[index]
        prev, prev_b = pt, cur_b  # the next point's baseline, its dict built once
    elapsed = pts[-1][0] - pts[0][0]
    bl = sorted(buckets.items())
    out: dict[str, Any] = {
        "buckets": bl,
        "rate": count_inc / elapsed if elapsed > 0 else None,
        "observations": count_inc,
        "observations_sum": sum_inc,
    }
    out.update(zip(("p50", "p90", "p95", "p99"), _bucket_quantiles(bl, count_inc), strict=True))
    return out


def _extend_layout(prev: dict[float, float], cur: dict[float, float]) -> dict[float, float]:
    """``prev``'s cumulative counts at every bound of ``cur`` (a superset of its bounds)."""
    out, last = {}, 0.0
    for le in sorted(cur):
        last = prev.get(le, last)
        out[le] = last
    return out


def _bucket_quantiles(buckets: list[tuple[float, float]], total: float) -> list[float | None]:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket; a rank in
    the implied +Inf bucket reports the highest finite bound, as Prometheus does."""
    if not buckets or total <= 0:
        return [None] * len(QUANTILES)
    out: list[float | None] = []
    for q in QUANTILES:
        rank = q * total
        lo_le, lo_c = 0.0, 0.0
        for le, c in buckets:
            if c >= rank:
                frac = (rank - lo_c) / (c - lo_c) if c > lo_c else 1.0
                out.append(lo_le + (le - lo_le) * frac)
                break
            lo_le, lo_c = le, c
        else:
            out.append(buckets[-1][0])
    return out
