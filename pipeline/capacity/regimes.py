"""The last change of level or slope in a capacity history: where its current regime starts.

A disk cleaned up weeks ago, or growth that sped up last week, makes the history before the
change a wrong guide to the future. The change points of a piecewise-linear fit are found
by ruptures' binary segmentation (``Binseg``) on daily means, with a penalised cost: a new
segment must cut the squared error by more than ``PENALTY`` noise variances per log(n).

Binary segmentation, not PELT: on the same 90 daily points both find the same breaks on
the bench families, and Binseg costs a few hundred segment evaluations where PELT costs
thousands (ruptures' PELT is pure Python), which matters for 10,000 series per refit.
The segment cost (least squares of y on [1, t]) is closed-form from prefix sums, O(1) per
segment: ruptures' own ``linear`` cost runs a lstsq per segment, ~10 times slower.
"""

from __future__ import annotations

import numpy as np
import ruptures as rpt
from ruptures.base import BaseCost

__all__ = ["LinearCost", "last_change", "noise_sigma"]

#: Penalty per change point, in noise variances times log(n) (BIC would be ~3: two
#: parameters and a location; a margin keeps curves from being cut into lines).
PENALTY = 6.0
#: Floor of the noise scale, as a share of the series' level: a smooth curve with almost
#: no noise would otherwise be cut into straight pieces wherever it bends.
SIGMA_FLOOR = 0.004
#: More change points than this is a recurring pattern (batch loads landing every few
#: days, a staircase), not a change of regime: the last step is no guide to the next.
MAX_CHANGES = 3


class LinearCost(BaseCost):
    """Squared error of a least-squares line through a segment, from prefix sums."""

    model = "toka_linear"
    min_size = 3

    def fit(self, signal: np.ndarray) -> LinearCost:
        y = np.asarray(signal, dtype=float).reshape(-1)
        self.signal = y.reshape(-1, 1)  # ruptures reads the sample count from it
        t = np.arange(y.size, dtype=float)
        zero = np.zeros(1)
        sums = (np.ones_like(y), t, t * t, y, t * y, y * y)
        self._c = [np.concatenate([zero, np.cumsum(v)]) for v in sums]
        return self

    def error(self, start: int, end: int) -> float:
        n, st, stt, sy, sty, syy = (float(c[end] - c[start]) for c in self._c)
        det = n * stt - st * st
        if det <= 0:
            return max(syy - sy * sy / n, 0.0) if n else 0.0
        # SSE = Syy - b' M^-1 b with M = [[n, St], [St, Stt]], b = [Sy, Sty]
        fit = (stt * sy * sy - 2 * st * sy * sty + n * sty * sty) / det
        return max(syy - fit, 0.0)


def noise_sigma(y: np.ndarray) -> float:
    """Noise scale from the MAD of second differences (a line, a step or a bend barely
    moves it), floored at ``SIGMA_FLOOR`` of the level."""
    floor = SIGMA_FLOOR * max(float(np.median(np.abs(y))), 1e-12)
    if y.size < 5:
        return floor
    d2 = np.diff(y, 2)
    mad = float(np.median(np.abs(d2 - np.median(d2))))
    return max(1.4826 * mad / np.sqrt(6.0), floor)


def last_change(y: np.ndarray, min_size: int = 3, penalty: float = PENALTY) -> int | None:
    """Index in ``y`` (evenly spaced means) where the last regime starts, or None (one
    regime, or more than ``MAX_CHANGES``: a pattern, not a regime change)."""
    n = y.size
    if n < 2 * min_size + 2:
        return None
    sigma = noise_sigma(y)
    algo = rpt.Binseg(custom_cost=LinearCost(), min_size=min_size, jump=1).fit(y)
    bkps = algo.predict(pen=penalty * sigma * sigma * np.log(n))
    if len(bkps) < 2 or len(bkps) - 1 > MAX_CHANGES:
        return None
    return int(bkps[-2])
