"""How far the data of one partition is complete, from the sources' own promises.

An agent that collects every ``interval`` seconds says so in each MetricBatch. Its next
record then holds nothing older than ``ts + interval``, so every window of that source
ending by then is complete as soon as the record arrives: no need to wait for a later
record to move the watermark past the window end plus the grace period. This is what
lets an alert fire seconds after the scrape that shows the problem.

A partition holds many sources; its windows are complete up to the earliest promise of
the sources still active. A source silent for ``idle_after`` wall-clock seconds stops
counting (the idle close handles its windows), and one that makes no promise (a record
without ``interval``) counts as its newest event time minus the grace period, i.e. the
ordinary watermark rule.

No promise reaches further ahead of this worker's clock than ``max_ahead`` (the watermark's
own bound, ``max_clock_skew_seconds``): one record stamped far in the future, or with a
huge ``interval``, must not close a partition's windows for everyone for hours.
"""

from __future__ import annotations

__all__ = ["Completeness"]


class Completeness:
    def __init__(
        self, grace: float, idle_after: float, jitter: float = 0.2,
        max_ahead: float = float("inf"),
    ) -> None:  # fmt: skip
        self.grace = grace
        self.idle_after = idle_after
        self.max_ahead = max_ahead
        # A promise is kept early by this share of the interval: a scrape that runs late
        # by up to jitter * interval still lands in an open window.
        self.jitter = jitter
        self._sources: dict[tuple[str, str], tuple[float, float]] = {}

    def observe(
        self, host: str, source: str, ts: float, interval: float | None, now: float
    ) -> None:
        if interval is not None and interval > 0:
            promise = ts + interval * (1.0 - self.jitter)
        else:
            promise = ts - self.grace
        promise = min(promise, now + self.max_ahead)
        old = self._sources.get((host, source))
        if old is not None and old[0] > promise:
            promise = old[0]  # an out-of-order record does not take a promise back
        self._sources[(host, source)] = (promise, now)

    def promise_of(self, host: str) -> float:
        """How far ``host``'s own sources promised their data (-inf: no promise)."""
        out = [p for (h, _), (p, _) in self._sources.items() if h == host]
        return min(out) if out else float("-inf")

    def snapshot(self) -> dict[str, list[float]]:
        return {f"{h}\x1f{s}": [p, seen] for (h, s), (p, seen) in self._sources.items()}

    def complete_until(self, now: float) -> float:
        """Every window ending at or before this time is complete (-inf: nothing known)."""
        horizon = now - self.idle_after
        for key in [k for k, (_, seen) in self._sources.items() if seen < horizon]:
            del self._sources[key]
        if not self._sources:
            return float("-inf")
        return min(promise for promise, _ in self._sources.values())
