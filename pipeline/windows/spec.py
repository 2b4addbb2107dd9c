"""Window arithmetic over panes.

Every sample folds into exactly one *pane* (width = gcd of all window sizes and hops), and
a window is the merge of its panes. So the hot path does one update per sample whatever
the number of window sizes, and a hopping window costs a merge at close, not a fold per
overlapping window. Indices are integers (pane numbers), never float boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["WindowSpec", "pane_width", "specs_for"]

_MS = 1000  # sizes are whole milliseconds: gcd needs integers


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One window shape, in panes: ``size`` panes long, a new one every ``hop`` panes."""

    size: int
    hop: int

    def starts_containing(self, pane: int) -> range:
        """Start panes of the windows that contain ``pane``."""
        first = -((self.size - 1 - pane) // self.hop) * self.hop  # ceil((pane-size+1)/hop)*hop
        return range(first, pane + 1, self.hop)

    def last_end_containing(self, pane: int) -> int:
        return (pane // self.hop) * self.hop + self.size

    def windows_over(self, panes: Iterator[int] | Sequence[int]) -> set[int]:
        """Start panes of all windows holding at least one of ``panes``."""
        out: set[int] = set()
        for p in panes:
            out.update(self.starts_containing(p))
        return out


def _ms(seconds: float) -> int:
    ms = round(seconds * _MS)
    if ms <= 0 or abs(ms - seconds * _MS) > 1e-6 * max(1.0, seconds * _MS):
        raise ValueError(f"window sizes must be positive whole milliseconds, got {seconds}")
    return ms


def pane_width(sizes: Sequence[float], hop: float | None) -> float:
    """The pane width in seconds: gcd of every size and the hop."""
    ms = [_ms(s) for s in sizes] + ([_ms(hop)] if hop is not None else [])
    return math.gcd(*ms) / _MS


def specs_for(sizes: Sequence[float], hop: float | None) -> tuple[float, list[WindowSpec]]:
    """Pane width and one spec per size; ``hop`` applies to every size larger than it."""
    if not sizes:
        raise ValueError("at least one window size is needed")
    width = pane_width(sizes, hop)
    w = round(width * _MS)
    specs = []
    for s in sizes:
        size = _ms(s) // w
        step = min(size, _ms(hop) // w) if hop is not None else size
        specs.append(WindowSpec(size, step))
    return width, specs
