"""Which offsets of one partition are folded into its logic already: the replay skip.

Faust 0.15.3 may drop records it fetched while a rebalance ends and count on the seek to
the committed offset to deliver them again. "Skip everything at or below the last offset
folded" then loses them: the dropped record comes back below that offset but was never
folded. So the folded offsets are kept as they are: sorted, disjoint ranges (one range while
delivery is in order; a dropped record splits it until it comes back and joins them).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

__all__ = ["FoldedOffsets"]


class FoldedOffsets:
    def __init__(self, max_ranges: int = 64) -> None:
        """``max_ranges``: past it, the oldest gap is taken for a gap in the log itself (a
        compacted or transactional topic skips offsets for good) and closed."""
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._max = max(1, max_ranges)

    @classmethod
    def from_ranges(cls, ranges: Iterable[Iterable[int]], max_ranges: int = 64) -> FoldedOffsets:
        """The offsets of ``ranges`` (as ``ranges`` gives them: [start, end] pairs)."""
        folded = cls(max_ranges)
        for start, end in sorted(tuple(r) for r in ranges):
            if folded._ends and start <= folded._ends[-1] + 1:
                folded._ends[-1] = max(folded._ends[-1], end)
            else:
                folded._starts.append(start)
                folded._ends.append(end)
        return folded

    def __contains__(self, offset: int) -> bool:
        i = bisect_right(self._starts, offset) - 1
        return i >= 0 and offset <= self._ends[i]

    def add(self, offset: int) -> None:
        i = bisect_right(self._starts, offset) - 1
        if i >= 0 and offset <= self._ends[i]:
            return
        joins_left = i >= 0 and self._ends[i] == offset - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == offset + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = offset
        elif joins_right:
            self._starts[i + 1] = offset
        else:
            self._starts.insert(i + 1, offset)
            self._ends.insert(i + 1, offset)
        if len(self._starts) > self._max:
            self._ends[0] = self._ends[1]
            del self._starts[1], self._ends[1]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))
