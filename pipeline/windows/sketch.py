"""A mergeable DDSketch-style quantile sketch (Masson et al., VLDB 2019).

Values fall in logarithmic buckets ``(gamma^(k-1), gamma^k]``; any quantile is answered
within ``alpha`` relative error of the exact value at the same rank, and two sketches merge
by adding bucket counts, so a window's sketch is exactly the merge of its panes' (and of
other partitions') sketches. Built in bulk with numpy: the hot path only appends raw
values, and buckets are computed once per pane or window, vectorised.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any

import numpy as np

__all__ = ["DEFAULT_ALPHA", "DDSketch"]

DEFAULT_ALPHA = 0.01
#: |x| below this counts as zero (keeps the key range, hence memory, bounded).
_MIN_VALUE = 1e-9
#: Beyond this many buckets per sign the lowest are folded together (bounded memory; only
#: extreme low quantiles lose accuracy, as in DDSketch's collapsing store).
_MAX_BINS = 2048
#: Below this many values pure Python beats numpy's per-call overhead.
_NUMPY_FROM = 48


class DDSketch:
    __slots__ = ("alpha", "gamma", "_inv_lg", "pos", "neg", "zero")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = alpha
        self.gamma = (1.0 + alpha) / (1.0 - alpha)
        self._inv_lg = 1.0 / math.log(self.gamma)
        self.pos: dict[int, int] = {}
        self.neg: dict[int, int] = {}
        self.zero = 0

    @property
    def count(self) -> int:
        return self.zero + sum(self.pos.values()) + sum(self.neg.values())

    def add_many(self, values: Sequence[float]) -> DDSketch:
        if len(values) < _NUMPY_FROM:
            self._add_py(values)
        else:
            self._add_np(np.asarray(values, dtype=np.float64))
        return self

    def _add_py(self, values: Iterable[float]) -> None:
        inv, ceil, log = self._inv_lg, math.ceil, math.log
        pos, neg = self.pos, self.neg
        for v in values:
            if v > _MIN_VALUE:
                k = ceil(log(v) * inv)
                pos[k] = pos.get(k, 0) + 1
            elif v < -_MIN_VALUE:
                k = ceil(log(-v) * inv)
                neg[k] = neg.get(k, 0) + 1
            elif not math.isnan(v):
                self.zero += 1
        self._bound()

    def _add_np(self, arr: np.ndarray) -> None:
        arr = arr[~np.isnan(arr)]
        mag = np.abs(arr)
        big = mag > _MIN_VALUE
        self.zero += int(arr.size - np.count_nonzero(big))
        keys = np.ceil(np.log(mag[big]) * self._inv_lg).astype(np.int64)
        positive = arr[big] > 0
        for store, sel in ((self.pos, keys[positive]), (self.neg, keys[~positive])):
            if sel.size:
                uk, cnt = np.unique(sel, return_counts=True)
                if not store:  # a new sketch (every window's): the same dict, built in C
                    store.update(zip(uk.tolist(), cnt.tolist(), strict=True))
                    continue
                for k, c in zip(uk.tolist(), cnt.tolist(), strict=True):
                    store[k] = store.get(k, 0) + c
        self._bound()

    def merge(self, other: DDSketch) -> DDSketch:
        if other.gamma != self.gamma:
            raise ValueError("cannot merge sketches of different relative accuracy")
        for mine, theirs in ((self.pos, other.pos), (self.neg, other.neg)):
            for k, c in theirs.items():
                mine[k] = mine.get(k, 0) + c
        self.zero += other.zero
        self._bound()
        return self

    def _bound(self) -> None:
        for store in (self.pos, self.neg):
            if len(store) > _MAX_BINS:
                keys = sorted(store)
                cut = keys[: len(keys) - _MAX_BINS + 1]
                folded = sum(store.pop(k) for k in cut)
                store[cut[-1]] = folded

    def _value(self, key: int) -> float:
        # Midpoint of the bucket in the relative sense: within alpha of every value in it.
        return 2.0 * self.gamma**key / (self.gamma + 1.0)

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Values at ranks ``q * (n - 1)`` (numpy's ``method="lower"``), within alpha."""
        n = self.count
        if n == 0:
            return [None] * len(qs)
        # Ascending order: most negative first (largest |x| key), then zeros, then positives.
        # Cumulative counts and a bisection per quantile: bucket values only for the hits.
        neg = sorted(self.neg, reverse=True)
        pos = sorted(self.pos)
        counts = list(map(self.neg.__getitem__, neg))
        if self.zero:
            counts.append(self.zero)
        counts.extend(map(self.pos.__getitem__, pos))
        cum = list(accumulate(counts))
        out: list[float | None] = []
        for q in qs:
            # The first bucket whose cumulative count exceeds the rank (the last if none).
            i = min(bisect_right(cum, q * (n - 1)), len(cum) - 1)
            if i < len(neg):
                out.append(-self._value(neg[i]))
            elif self.zero and i == len(neg):
                out.append(0.0)
            else:
                out.append(self._value(pos[i - len(neg) - (1 if self.zero else 0)]))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (keys as lists, since JSON object keys are strings)."""
        return {
            "alpha": self.alpha,
            "pos": [list(self.pos), list(self.pos.values())],
            "neg": [list(self.neg), list(self.neg.values())],
            "zero": self.zero,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DDSketch:
        sk = cls(data["alpha"])
        sk.pos = dict(zip(*data["pos"], strict=True))
        sk.neg = dict(zip(*data["neg"], strict=True))
        sk.zero = int(data["zero"])
        return sk
