"""The per-record fast path: a host's scrape folded as one numpy row, not sample by sample.

An agent sends the same series in the same order scrape after scrape. The first record of
a layout is folded sample by sample and leaves a ``Layout`` (the series it resolved to);
a later record with the same names and labels is checked against it with two list
comparisons, and its values become one row of a ``Block`` (one per layout and pane).
Blocks turn into ordinary per-series panes only when their pane is about to be read
(window close, idle flush, snapshot), with count/sum/min/max/last computed per column
by numpy, so per-sample Python work is paid once per pane, not once per sample. A
histogram's value (its total count) is a column like any other; its buckets and sum are
kept as the row's histogram samples and become points when the block is folded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from pipeline.windows.aggregate import BUFFER_LIMIT, POINTS_LIMIT, Pane
from pipeline.windows.series import Series
from schemas.records import Sample

__all__ = ["VALUE", "Block", "Layout", "PendingBlocks", "layout_of"]

_NAME = attrgetter("name")
_LABELS = attrgetter("labels")
VALUE = attrgetter("value")


class Layout:
    """The series of one record layout of one host, in sample order."""

    __slots__ = ("names", "labels", "series", "hist", "pick", "block", "seen", "_closed")

    def __init__(self, samples: Sequence[Sample], series: list[Series]) -> None:
        self.names = [s.name for s in samples]
        self.labels = [s.labels for s in samples]
        self.series = series
        # Histogram columns: series index -> position in a row's tuple of histogram samples
        # (``pick``, one C call per record), whose buckets and sum the points need.
        cols = [j for j, ser in enumerate(series) if ser.kind == "histogram"]
        self.hist = {j: q for q, j in enumerate(cols)}
        self.pick: Callable[[Sequence[Sample]], tuple[Sample, ...]] | None = None
        if len(cols) == 1:
            self.pick = _one(cols[0])
        elif cols:
            self.pick = itemgetter(*cols)
        self.block: Block | None = None  # the block the last record went to
        # Wall clock of the last record folded (the store sets it): while the clock never
        # goes back, every series here was seen at or after it (no idle check needed).
        self.seen = float("-inf")
        self._closed: tuple[int, int] = (-1, 0)  # (store flush epoch, max closed_until)

    def matches(self, samples: Sequence[Sample]) -> bool:
        # Whole-list comparisons run in C: far cheaper than a dict lookup per sample (and
        # map with attrgetter builds the lists in C too).
        return (
            len(samples) == len(self.names)
            and list(map(_NAME, samples)) == self.names
            and list(map(_LABELS, samples)) == self.labels
        )

    def closed_until(self, epoch: int) -> int:
        """Max closed_until of the series, recomputed only after an idle flush (epoch)."""
        if self._closed[0] != epoch:
            self._closed = (epoch, max(ser.closed_until for ser in self.series))
        return self._closed[1]


def layout_of(samples: Sequence[Sample], series: list[Series]) -> Layout | None:
    """A Layout when every sample is batch-stamped and lands on its own plain series."""
    if len(series) != len(samples) or len({id(s) for s in series}) != len(series):
        return None
    for s, ser in zip(samples, series, strict=True):
        if s.ts is not None or ser.overflow:
            return None
    return Layout(samples, series)


def _one(j: int) -> Callable[[Sequence[Sample]], tuple[Sample, ...]]:
    # itemgetter of one index returns the item itself, not a 1-tuple.
    return lambda samples: (samples[j],)


def _hist_points(ts: list[Any], hists: list[tuple[Sample, ...]], q: int) -> list[Any]:
    """Histogram points of one column, as the per-sample path makes them."""
    return [_hist_point(t, row[q]) for t, row in zip(ts, hists, strict=True)]


def _hist_point(ts: Any, s: Sample) -> tuple[Any, ...]:
    return (ts, s.value, s.buckets, s.sum)


def _add_points(pane: Pane, pts: list[Any]) -> None:
    # One at a time, thinning as the per-sample path does: a thin keeps the first and last
    # point of those so far, so one thin of all of them would keep other points.
    for pt in pts:
        pane.points.append(pt)
        if len(pane.points) > POINTS_LIMIT:
            pane.thin()


class Block:
    """Rows of one layout falling into one pane, not yet folded into the series' panes."""

    __slots__ = ("layout", "pane", "rows", "ts", "hists")

    def __init__(self, layout: Layout, pane: int) -> None:
        self.layout = layout
        self.pane = pane
        self.rows: list[np.ndarray] = []
        self.ts: list[float] = []
        self.hists: list[tuple[Sample, ...]] = []  # per row, when the layout has histograms

    def add(self, values: np.ndarray, ts: float, samples: Sequence[Sample]) -> None:
        self.rows.append(values)
        self.ts.append(ts)
        pick = self.layout.pick
        if pick is not None:
            self.hists.append(pick(samples))

    def materialize(self, alpha: float) -> None:
        """Fold the rows into each series' pane (creating it when needed)."""
        if len(self.rows) == 1:
            self._materialize_one(alpha)
            return
        p = self.pane
        m = np.vstack(self.rows)  # rows x series
        k = m.shape[0]
        ts = np.asarray(self.ts)
        last_row = k - 1 - int(np.argmax(ts[::-1]))  # latest event time, last arrival on ties
        last_ts = float(ts[last_row])
        sums = m.sum(axis=0).tolist()
        mins = m.min(axis=0).tolist()
        maxs = m.max(axis=0).tolist()
        lasts = m[last_row].tolist()
        cols: list[Any] = m.T.tolist()
        ts_list = self.ts
        for j, ser in enumerate(self.layout.series):
            pane = ser.panes.get(p)
            if pane is None:  # the usual case: the block is all of the pane so far
                pane = ser.panes[p] = Pane()
                pane.count = k
                pane.sum = 0.0 + sums[j]  # as += on a new pane (turns -0.0 into 0.0)
                pane.min = mins[j]
                pane.max = maxs[j]
                pane.last_ts = last_ts
                pane.last = lasts[j]
                if ser.kind == "gauge":
                    pane.vals = cols[j]  # a fresh list of its own (tolist)
                    if len(pane.vals) >= BUFFER_LIMIT:
                        pane.flush(alpha)
                elif ser.kind == "counter":
                    pane.points = list(zip(ts_list, cols[j], strict=True))
                    if len(pane.points) > POINTS_LIMIT:
                        pane.thin()
                else:
                    _add_points(pane, _hist_points(ts_list, self.hists, self.layout.hist[j]))
                continue
            pane.count += k
            # Value by value, as the per-sample path adds: pane.sum + sums[j] rounds
            # differently. Rare: a pane the first record of a layout went to.
            total = pane.sum
            for v in cols[j]:
                total += v
            pane.sum = total
            if mins[j] < pane.min:  # noqa: PLR1730
                pane.min = mins[j]
            if maxs[j] > pane.max:  # noqa: PLR1730
                pane.max = maxs[j]
            if last_ts >= pane.last_ts:
                pane.last_ts = last_ts
                pane.last = lasts[j]
            if ser.kind == "gauge":
                pane.vals.extend(cols[j])
                if len(pane.vals) >= BUFFER_LIMIT:
                    pane.flush(alpha)
            elif ser.kind == "counter":
                pane.points.extend(zip(ts_list, cols[j], strict=True))
                if len(pane.points) > POINTS_LIMIT:
                    pane.thin()
            else:
                _add_points(pane, _hist_points(ts_list, self.hists, self.layout.hist[j]))

    def _materialize_one(self, alpha: float) -> None:
        """One row (a scrape interval as long as the pane): what materialize does, without
        the column reductions."""
        p = self.pane
        ts = self.ts[0]  # points keep it as given, last_ts as float (as materialize)
        fts = float(ts)
        for ser, v in zip(self.layout.series, self.rows[0].tolist(), strict=True):
            pane = ser.panes.get(p)
            if pane is None:
                pane = ser.panes[p] = Pane()
                pane.count = 1
                pane.sum = 0.0 + v  # as += on a new pane
                pane.min = pane.max = pane.last = v
                pane.last_ts = fts
                if ser.kind == "gauge":
                    pane.vals = [v]
                elif ser.kind == "counter":
                    pane.points = [(ts, v)]
                continue
            pane.add(v, fts)
            if ser.kind == "gauge":
                pane.vals.append(v)
                if len(pane.vals) >= BUFFER_LIMIT:
                    pane.flush(alpha)
            elif ser.kind == "counter":
                pane.points.append((ts, v))
                if len(pane.points) > POINTS_LIMIT:
                    pane.thin()
        # Histogram points after the loop (they need the column's index); a pane's points
        # do not depend on its other fields, so the result is the same.
        if self.layout.hist:
            series, hists = self.layout.series, self.hists[0]
            for j, q in self.layout.hist.items():
                pane = series[j].panes[p]
                pane.points.append(_hist_point(ts, hists[q]))
                if len(pane.points) > POINTS_LIMIT:
                    pane.thin()


class PendingBlocks:
    """Blocks not yet folded into panes, by pane."""

    def __init__(self) -> None:
        self.by_pane: dict[int, list[Block]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_pane)

    def block_for(self, layout: Layout, pane: int) -> tuple[Block, bool]:
        """The layout's block for ``pane`` and whether it is new."""
        blk = layout.block
        if blk is not None and blk.pane == pane:
            return blk, False
        blk = layout.block = Block(layout, pane)
        self.by_pane.setdefault(pane, []).append(blk)
        return blk, True

    def fold(self, blk: Block, alpha: float) -> None:
        """Fold one pending block into its panes now."""
        blocks = self.by_pane[blk.pane]
        blocks.remove(blk)
        if not blocks:
            del self.by_pane[blk.pane]
        blk.materialize(alpha)
        if blk.layout.block is blk:
            blk.layout.block = None

    def materialize(
        self, alpha: float, *, before: int | None = None,
        where: Callable[[Block], bool] | None = None,
    ) -> None:  # fmt: skip
        """Fold blocks into panes: those of panes < ``before``, or those ``where`` accepts,
        or all."""
        for p in list(self.by_pane):
            if before is not None and p >= before:
                continue
            blocks = self.by_pane.pop(p)
            rest = []
            for blk in blocks:
                if where is not None and not where(blk):
                    rest.append(blk)
                    continue
                blk.materialize(alpha)
                if blk.layout.block is blk:
                    blk.layout.block = None
            if rest:
                self.by_pane[p] = rest
