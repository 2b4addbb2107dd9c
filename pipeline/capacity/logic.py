"""The capacity stage's logic (no Faust): resource aggregates into a bucketed history
over a WriteBehind state, driven by the analytics loop (pipeline.runtime). The refit of
due series runs on the stage's timer (stage.py)."""

from __future__ import annotations

from pipeline.capacity.history import Meta, chunk_key, expire, ingest, meta_key, resource_key
from pipeline.runtime.analytics_runtime import Finding
from pipeline.tables import WriteBehind
from schemas import WindowAggregate
from schemas.config.analytics import CapacityConfig

__all__ = ["CapacityLogic"]


class CapacityLogic:
    def __init__(self, cc: CapacityConfig, state: WriteBehind) -> None:
        self.cc, self.state = cc, state
        self.used_names = set(cc.series)
        self.total_of = {total: used for used, total in cc.series.items() if total}

    def on_aggregate(self, agg: WindowAggregate, p: int) -> list[Finding]:
        if agg.name in self.used_names or agg.name in self.total_of:
            self.on_resource(agg, p)
        return []  # forecasts come from the refit timer

    def on_resource(self, agg: WindowAggregate, p: int) -> None:
        cc, state = self.cc, self.state
        res = resource_key(agg.host, agg.labels)
        used = self.total_of.get(agg.name, agg.name)
        meta = state.use(
            p, meta_key(used, res), Meta.restore, lambda: Meta(used, agg.host, dict(agg.labels))
        )
        if agg.name in self.total_of:
            meta.capacity = agg.last
            return
        meta.series = agg.series
        point = ingest(meta, agg.window_end, agg.mean, cc.bucket_seconds)
        if point is not None:
            chunk = state.use(p, chunk_key(used, res, int(point[0] // 86400)), None, list)
            chunk.append(list(point))
            for day in expire(meta, cc.retention_days):
                state.put(p, chunk_key(used, res, day), None)
