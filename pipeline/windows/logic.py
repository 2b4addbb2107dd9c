"""The windows stage's logic for one metrics partition (pure: no Faust, no I/O).

A WindowStore folds the samples; the sources' promises (completeness.py) close windows
early; the runtime (pipeline.runtime) does decoding errors, acks, replay and dead letters.
The fold itself stays behind ``WindowStore.add_batch``/``close_due``, so a columnar
store can replace it without touching this protocol.
"""

from __future__ import annotations

from typing import Any

from pipeline.runtime.windowed_runtime import Delivered, Folded, Reject
from pipeline.windows.completeness import Completeness
from pipeline.windows.core import WindowStore
from schemas import MetricBatch, WindowAggregate, decode, encode
from schemas.config.pipeline import PipelineConfig
from schemas.records import new_id

__all__ = ["MetricWindows"]


def _newest_event_time(batch: MetricBatch) -> float:
    newest = batch.ts
    for s in batch.samples:
        if s.ts is not None and s.ts > newest:
            newest = s.ts
    return newest


class MetricWindows:
    """One metrics partition: its window store and its sources' completeness."""

    def __init__(self, pc: PipelineConfig) -> None:
        self.store = WindowStore.from_config(pc)
        self.grace = pc.grace_seconds
        self.max_skew = pc.max_clock_skew_seconds
        self.complete = Completeness(
            pc.grace_seconds, pc.idle_close_seconds, max_ahead=pc.max_clock_skew_seconds
        )

    def fold(self, record: Delivered, now: float) -> Folded:
        batch = decode(record.value, MetricBatch)
        stats = self.store.stats
        future, nan = stats["future"], stats["nan"]
        late = self.store.add_batch(batch, now)
        newest = _newest_event_time(batch)
        self.complete.observe(batch.host, batch.source, newest, batch.interval, now)
        rejects = []
        if late:
            late_batch = MetricBatch(
                id=new_id(), host=batch.host, source=batch.source, ts=batch.ts,
                samples=late, resource=batch.resource,
            )  # fmt: skip
            err = f"{len(late)} sample(s) older than the grace period of record {batch.id}"
            rejects.append(Reject("late", err, encode(late_batch), len(late)))
        dropped = {"future": stats["future"] - future, "nan": stats["nan"] - nan}
        # Nothing closes beyond now + max_skew (watermark and promises are capped there): a
        # record stamped further ahead is released by the wall clock instead.
        return Folded(min(newest, now + self.max_skew), rejects, dropped)

    def close_due(self, now: float) -> list[WindowAggregate]:
        return self.store.close_due(
            now, self.complete.complete_until(now), self.complete.promise_of
        )

    def closed_through(self, now: float) -> float:
        return max(self.store.watermark - self.grace, self.complete.complete_until(now))

    def snapshot(self) -> dict[str, Any]:
        return {"store": self.store.snapshot(), "completeness": self.complete.snapshot()}
