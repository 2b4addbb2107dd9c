"""WindowStore: event-time windows over one partition's metric samples (pure: no Faust, no I/O).

Each sample folds into one pane of its series (spec.py); windows are merged from panes when
they close: by the partition watermark (max event time seen, never more than ``max_skew``
ahead of the wall clock) once ``end + grace`` has passed, or when their series has been
idle for ``idle_close`` wall-clock seconds, so a host that goes quiet still gets its last
window out. Lateness is judged per source: a sample is late (handed back for the
dead-letter topic; it is in all its windows or none) when its own series has already
emitted its window, or when it is older than its own host's watermark minus grace. A host
whose windows the other hosts' promises or watermark already closed (a new host, one back
from a pause, one with a slow clock) is not late: its windows are "stragglers", emitted
once its own watermark or promise passes them (stragglers.py). A record whose layout
(names, labels, order) the store has seen from the same host and source folds as one numpy
row (layouts.py); any other record, sample by sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.windows.aggregate import BUFFER_LIMIT, POINTS_LIMIT, Pane
from pipeline.windows.cardinality import GLOBAL_OVERFLOW, OVERFLOW_LABEL, CardinalityCaps
from pipeline.windows.idle import close_idle
from pipeline.windows.layouts import VALUE, Layout, PendingBlocks, layout_of
from pipeline.windows.order import Group, in_order
from pipeline.windows.series import Series, series_id, window_span
from pipeline.windows.sketch import DEFAULT_ALPHA
from pipeline.windows.snapshot import restore_store, snapshot_store
from pipeline.windows.spec import specs_for
from pipeline.windows.stragglers import close_stragglers
from schemas.records import MetricBatch, Sample, WindowAggregate

__all__ = ["WindowStore", "series_id"]

_NEVER = -(2**62)  # "before any pane", as an int so pane comparisons stay integer
_NEG_INF = float("-inf")  # a constant: float("-inf") is a call, per record


class WindowStore:
    def __init__(
        self,
        sizes: Sequence[float],
        grace: float = 5.0,
        idle_close: float = 15.0,
        hop: float | None = None,
        *,
        max_series_per_metric: int = 10_000,
        max_series_total: int = 200_000,
        series_ttl: float = 300.0,
        max_future: float = 600.0,
        max_skew: float = 30.0,
        alpha: float = DEFAULT_ALPHA,
        emit_sketches: bool = False,
    ) -> None:
        if grace < 0 or idle_close <= 0 or series_ttl <= 0:
            raise ValueError("grace must be >= 0, idle_close and series_ttl > 0")
        self.sizes = [float(s) for s in sizes]
        self.grace = float(grace)
        self.idle_close = float(idle_close)
        self.hop = float(hop) if hop is not None else None
        self.series_ttl = float(series_ttl)
        self.max_future = float(max_future)
        self.max_skew = float(max_skew)
        self.alpha = alpha
        self.emit_sketches = emit_sketches
        self.width, self.specs = specs_for(self.sizes, self.hop)
        self._width_ms = round(self.width * 1000)
        self.caps = CardinalityCaps(max_series_per_metric, max_series_total)
        self.watermark = float("-inf")
        # Per spec: every window ending at or before this pane has been emitted.
        self._emitted = [_NEVER] * len(self.specs)
        # Panes closed early on the sources' completeness promise (close_due): later
        # samples of them are late like those behind the watermark.
        self._complete_lim = _NEVER
        self._hosts: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = {}
        self._by_sid: dict[str, Series] = {}
        self._by_pane: dict[int, set[Series]] = {}
        self._last_scan = float("-inf")
        # Per-record fast path (layouts.py): (host, source) -> layout; pane -> pending blocks.
        self._layouts: dict[tuple[str, str], Layout] = {}
        self._blocks = PendingBlocks()
        self._flush_epoch = 0
        self._latest_now, self._clock_back = _NEG_INF, False
        self._seen_bound: float | None = None  # see idle.py
        # Per host: its own watermark (newest event time, capped like the partition's).
        self.host_watermarks: dict[str, float] = {}
        # Series with samples in windows already closed for the partition: pane numbers.
        self.stragglers: dict[Series, set[int]] = {}
        self.stats = {"samples": 0, "late": 0, "future": 0, "nan": 0, "cut": 0, "expired": 0,
                      "row_records": 0}  # fmt: skip

    @classmethod
    def from_config(cls, pc: Any) -> WindowStore:
        """A store with a ``PipelineConfig``'s window and cardinality settings."""
        return cls(
            pc.window_seconds, grace=pc.grace_seconds, idle_close=pc.idle_close_seconds,
            hop=pc.hop_seconds, max_series_per_metric=pc.max_series_per_metric,
            max_series_total=pc.max_series_total, series_ttl=pc.series_ttl_seconds,
            max_future=pc.max_future_seconds, max_skew=pc.max_clock_skew_seconds,
            emit_sketches=pc.emit_sketches,
        )  # fmt: skip

    # -- settings, so the adapter and snapshot can rebuild an equal store --
    def settings(self) -> dict[str, Any]:
        return {
            "sizes": self.sizes, "grace": self.grace, "idle_close": self.idle_close,
            "hop": self.hop, "max_series_per_metric": self.caps.per_metric,
            "max_series_total": self.caps.total, "series_ttl": self.series_ttl,
            "max_future": self.max_future, "max_skew": self.max_skew, "alpha": self.alpha,
            "emit_sketches": self.emit_sketches,
        }  # fmt: skip

    @property
    def series_count(self) -> int:
        return len(self._by_sid)

    # -- hot path --
    def add_batch(self, batch: MetricBatch, now: float) -> list[Sample]:
        """Fold every sample of one record into its series' open windows.

        Returns the samples later than the grace period (for the dead-letter topic). Late
        is judged against the watermark before this record, so one record spanning a
        spool replay does not make its own older samples late.
        """
        if now < self._latest_now:
            self._clock_back = True  # Layout.seen and idle.py's bound no longer bound last_seen
        else:
            self._latest_now = now
        lkey = (batch.host, batch.source)
        layout = self._layouts.get(lkey)
        if layout is not None:
            if layout.matches(batch.samples) and self._fold_row(layout, batch, now):
                return []
            if layout.block is not None:
                # Its pending rows arrived first: in panes before this record's samples
                # (which wins a tie on last, the order of points with one ts).
                self._blocks.fold(layout.block, self.alpha)
        collect: list[Series] | None = [] if batch.samples else None
        width = self.width
        lim = self._late_limit()
        host_wm = self.host_watermarks.get(batch.host, _NEG_INF)
        # Late for this host: behind its own watermark minus grace (before this record).
        host_lim = _NEVER if host_wm == _NEG_INF else int((host_wm - self.grace) // width)
        future = now + self.max_future
        hmap = self._hosts.get(batch.host)
        if hmap is None:
            hmap = self._hosts[batch.host] = {}
        by_pane = self._by_pane
        # Most samples carry no ts of their own: their pane, lateness and future check are
        # the record's, computed once.
        bts = batch.ts
        bp = int(bts // width)
        b_bad = bts > future
        b_used = False
        wm = _NEG_INF  # this record's newest accepted event time
        late: list[Sample] = []
        nan = fut = 0
        for s in batch.samples:
            ts = s.ts
            if ts is None:
                ts = bts
                p = bp
                if b_bad:
                    fut += 1
                    continue
            else:
                p = int(ts // width)
                if ts > future:
                    fut += 1
                    continue
            v = s.value
            if v != v:  # noqa: PLR0124 (NaN test without a call: hot path) NaN poisons sum
                nan += 1
                continue
            ser = hmap.get((s.name, tuple(s.labels.items())))
            if ser is None:
                ser = self._resolve(hmap, batch.host, s)
            if collect is not None:
                collect.append(ser)
            if p < host_lim or p < ser.closed_until:
                late.append(s)
                continue
            if p < lim:  # closed for the partition, not for this series: a straggler
                panes = self.stragglers.get(ser)
                if panes is None:
                    panes = self.stragglers[ser] = set()
                panes.add(p)
            if s.ts is None:
                b_used = True
            elif ts > wm:  # noqa: PLR1730 (plain compares beat max() calls on the hot path)
                wm = ts
            ser.last_seen = now
            if ser.cur_p == p:
                pane = ser.cur
                assert pane is not None  # cur_p and cur are set and cleared together
            else:
                pane = ser.panes.get(p)
                if pane is None:
                    pane = ser.panes[p] = Pane()
                    members = by_pane.get(p)
                    if members is None:
                        members = by_pane[p] = set()
                    members.add(ser)
                ser.cur_p = p
                ser.cur = pane
            pane.add(v, ts)
            if ser.kind == "gauge":
                vals = pane.vals
                vals.append(v)
                if len(vals) >= BUFFER_LIMIT:
                    pane.flush(self.alpha)
            else:
                pts = pane.points
                pts.append((ts, v) if ser.kind == "counter" else (ts, v, s.buckets, s.sum))
                if len(pts) > POINTS_LIMIT:
                    pane.thin()
        if b_used and bts > wm:
            wm = bts
        if collect is not None and not late and not nan and not fut:
            new_layout = layout_of(batch.samples, collect)
            if new_layout is not None:
                self._layouts[lkey] = new_layout
                new_layout.seen = now
        if wm != _NEG_INF:
            self._advance(wm, now)
            self._advance_host(batch.host, wm, now)
        if not hmap:  # every sample cut into overflow: keep no entry per new host name
            del self._hosts[batch.host]
            self.host_watermarks.pop(batch.host, None)
        st = self.stats
        st["samples"] += len(batch.samples)
        st["late"] += len(late)
        st["nan"] += nan
        st["future"] += fut
        return late

    def _fold_row(self, layout: Layout, batch: MetricBatch, now: float) -> bool:
        """Fold a record of a known layout as one row; False: take the per-sample path."""
        bts = batch.ts
        p = int(bts // self.width)
        if p < self._late_limit() or p < layout.closed_until(self._flush_epoch):
            return False
        if bts > now + self.max_future:
            return False
        n = len(batch.samples)
        values = np.fromiter(map(VALUE, batch.samples), np.float64, count=n)
        if np.isnan(values).any():
            return False
        blk, new = self._blocks.block_for(layout, p)
        if new:
            members = self._by_pane.get(p)
            if members is None:
                members = self._by_pane[p] = set()
            members.update(layout.series)
        blk.add(values, bts, batch.samples)
        for ser in layout.series:
            ser.last_seen = now
        layout.seen = now
        self._advance(bts, now)
        self._advance_host(batch.host, bts, now)
        self.stats["samples"] += n
        self.stats["row_records"] += 1
        return True

    def _advance(self, newest: float, now: float) -> None:
        # The watermark never runs more than max_skew ahead of this worker's clock: one
        # host with a fast clock must not make every other host on the partition late.
        capped = min(newest, now + self.max_skew)
        self.watermark = max(self.watermark, capped)

    def _advance_host(self, host: str, newest: float, now: float) -> None:
        capped = min(newest, now + self.max_skew)
        if capped > self.host_watermarks.get(host, _NEG_INF):
            self.host_watermarks[host] = capped

    def _late_limit(self) -> int:
        # Pane p is late once its first window (end (p+1)*width) is past end + grace.
        if self.watermark == _NEG_INF:
            return self._complete_lim
        return max(int((self.watermark - self.grace) // self.width), self._complete_lim)

    def _resolve(self, hmap: dict[Any, Series], host: str, s: Sample) -> Series:
        """Find or create the series of a sample whose label order is new to the cache."""
        sid = series_id(host, s.name, s.labels)
        ser = self._by_sid.get(sid)
        if ser is None:
            adm = self.caps.admit(s.name)
            if adm.admitted:
                ser = self._create(sid, host, s.name, tuple(sorted(s.labels.items())), s.type)
            else:
                self.stats["cut"] += 1
                # Not cached under the sample's key: unbounded label sets must not grow state.
                return self._overflow(adm.host, adm.name, adm.labels)
        key = (s.name, tuple(s.labels.items()))
        hmap[key] = ser
        ser.keys.append((host, key))
        return ser

    def _overflow(self, host: str, name: str, labels: tuple[tuple[str, str], ...]) -> Series:
        sid = series_id(host, name, dict(labels))
        ser = self._by_sid.get(sid)
        if ser is not None:
            return ser
        if self.caps.series >= self.caps.total and name != GLOBAL_OVERFLOW:
            return self._overflow("", GLOBAL_OVERFLOW, ((OVERFLOW_LABEL, "total"),))
        self.caps.admit_overflow()
        ser = self._create(sid, host, name, labels, "gauge", overflow=True)
        return ser

    def _create(
        self, sid: str, host: str, name: str, labels: tuple[tuple[str, str], ...], kind: str,
        *, overflow: bool = False,
    ) -> Series:  # fmt: skip
        ser = Series(
            sid, host, name, labels, kind if kind in _KINDS else "gauge", overflow=overflow
        )
        self._by_sid[sid] = ser  # overflow series are found by sid only, never cached by key
        self._seen_bound = None  # it may never be fed (idle.py)
        return ser

    # -- closing --
    def close_due(
        self,
        now: float,
        complete_until: float = float("-inf"),
        promise_of: Callable[[str], float] | None = None,
    ) -> list[WindowAggregate]:
        """Windows whose end + grace <= the watermark or whose end <= ``complete_until``
        (the sources' promise, see completeness.py), plus all windows of series idle for
        ``idle_close`` wall-clock seconds; also expires series idle for ``series_ttl``.
        Straggler windows close by their own host's watermark or ``promise_of(host)``."""
        out: list[Group] = []
        if complete_until != _NEG_INF:
            self._complete_lim = max(self._complete_lim, int(complete_until // self.width))
        if self.watermark != _NEG_INF:
            lim = self._late_limit()  # closable window ends
            if self._blocks:
                self._blocks.materialize(self.alpha, before=lim)
            out.extend(self._close_until(lim))
        if self.stragglers:
            out.extend(close_stragglers(self, promise_of))
        if now - self._last_scan >= min(1.0, self.idle_close / 4):
            self._last_scan = now
            out.extend((a.window_end, a.window_start, [a]) for a in close_idle(self, now))
        return in_order(out)  # deterministic: by window end, start, series (order.py)

    def _close_until(self, lim: int) -> list[Group]:
        out: list[Group] = []
        present = sorted(p for p in self._by_pane if p < lim)
        if not present:
            # Closed even with nothing in them: a sample arriving for them now is a
            # straggler of its series (stragglers.py), not a window of the partition.
            self._emitted = [max(done, lim) for done in self._emitted]
            return out
        for i, spec in enumerate(self.specs):
            done = self._emitted[i]
            starts: dict[int, set[Series]] = {}
            for p in present:
                members = self._by_pane[p]
                for st in spec.starts_containing(p):
                    if done < st + spec.size <= lim:
                        starts.setdefault(st, set()).update(members)
            for st in sorted(starts):
                end = st + spec.size
                span = window_span(st * self._width_ms / 1000, end * self._width_ms / 1000)
                group = []
                for ser in starts[st]:
                    agg = ser.aggregate(
                        st, end, self._width_ms, self.alpha, sketch=self.emit_sketches, span=span
                    )
                    if agg is not None:
                        group.append(agg)
                        if end > ser.closed_until:  # noqa: PLR1730 (hot path) later samples are late
                            ser.closed_until = end
                if group:
                    out.append((group[0].window_end, group[0].window_start, group))
            if lim > done:
                self._emitted[i] = lim
        stragglers = self.stragglers
        for p in present:
            if all(s.last_end_containing(p) <= lim for s in self.specs):
                for ser in self._by_pane.pop(p):
                    if not stragglers or p not in stragglers.get(ser, ()):
                        ser.drop_pane(p)  # a straggler's pane waits for its own close
        return out

    # -- state (snapshot.py) --
    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able state: settings, watermark, and every series with its panes."""
        return snapshot_store(self)

    @classmethod
    def restore(cls, data: Mapping[str, Any], **overrides: Any) -> WindowStore:
        return restore_store(cls, data, **overrides)


_KINDS = frozenset(("gauge", "counter", "histogram"))
