"""Hold each record's acknowledgement until every window it fed has been emitted.

Kafka offsets are committed only up to the first record still held, so a worker that is
killed (or loses the partition) leaves its open windows to be rebuilt exactly from the
uncommitted records by whoever takes the partition next. Windows re-emitted that way keep
their deterministic ids, and the alert engine ignores a window it has already applied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["Holdback"]

T = TypeVar("T")


class Holdback(Generic[T]):
    """Records of one partition, released in order once they are safe to commit.

    A record whose newest sample is at event time ``t`` is safe once every window ending
    by ``t + span`` (span = the largest window) is closed, i.e. ``closed_through`` (the
    watermark minus grace, or the sources' completeness) has passed it; or, on a quiet
    partition where time stands still, ``idle_after`` wall-clock seconds after it arrived
    (idle close has emitted its windows by then).
    """

    def __init__(self, span: float, idle_after: float) -> None:
        self.span = span
        self.idle_after = idle_after
        self._held: deque[tuple[float, float, T]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, newest_event_time: float, arrived: float, item: T) -> None:
        self._held.append((newest_event_time + self.span, arrived + self.idle_after, item))

    def release(self, closed_through: float, now: float) -> list[T]:
        out = []
        held = self._held
        while held and (held[0][0] <= closed_through or held[0][1] <= now):
            out.append(held.popleft()[2])
        return out

    def drop(self) -> Iterable[T]:
        """Forget everything (the partition was revoked: its new owner replays it)."""
        items = [h[2] for h in self._held]
        self._held.clear()
        return items
