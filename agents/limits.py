"""Limits: per-collection caps on samples and series, a token bucket for spans per second.

Excess is dropped and counted by the caller; nothing here queues.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from schemas.records import Sample

__all__ = ["CapResult", "TokenBucket", "cap_samples"]


@dataclass(frozen=True, slots=True)
class CapResult:
    samples: list[Sample]
    over_samples: int  # dropped by max_samples
    over_series: int  # dropped because they would start a series past max_series


def cap_samples(samples: list[Sample], max_samples: int, max_series: int) -> CapResult:
    """Keep the first samples in collection order, within both caps."""
    if len(samples) <= min(max_samples, max_series):  # cannot exceed either: the usual case
        return CapResult(samples, 0, 0)
    kept: list[Sample] = []
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    over_series = 0
    for s in samples:
        sid = (s.name, tuple(sorted(s.labels.items())))
        if sid not in series:
            if len(series) >= max_series:
                over_series += 1
                continue
            series.add(sid)
        kept.append(s)
    over_samples = max(0, len(kept) - max_samples)
    return CapResult(kept[:max_samples], over_samples, over_series)


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst`` (default: one second's worth)."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def take(self, n: int) -> int:
        """Take up to ``n`` tokens; return how many were granted."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        granted = min(n, int(self._tokens))
        self._tokens -= granted
        return granted
