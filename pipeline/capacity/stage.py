"""Faust adapter of the capacity stage: resource aggregates -> history -> CapacityForecast.

A resource series and its total (disk used and disk total of one mount, memory used and
total of one host) must meet on one partition. Batches guarantee it without a re-keying
hop: they come from the windows stage on the partition number of the metrics they were
folded from, and metrics are keyed by host; a used series and its total share the host
(``resource_key``: host and labels), so they arrive on one partition. (A pair whose two
series come from different inputs, one from spans and one from metrics, would not.)

History lives in a changelogged table keyed by partition, kept live in memory and written
behind every ``analytics.state_flush_seconds``, offsets committed only behind it
(pipeline.tables.WriteBehind): a killed worker's successor replays what the table lacks,
so none is lost or counted twice. A timer (``refit_interval_seconds``, not per record)
refits every due series in a thread, so the event loop keeps consuming while statsmodels
works.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pipeline.capacity.forecast import build_forecast
from pipeline.capacity.history import Meta, chunk_key, flatten, resource_key
from pipeline.capacity.logic import CapacityLogic
from pipeline.runtime.analytics_runtime import run_analytics
from pipeline.runtime.context import StageContext
from schemas import encode
from schemas.analytics import CapacityForecast

__all__ = ["TOPIC_KINDS", "install"]

#: Topics of this stage besides the pipeline's own (none: it reads aggregate-batches).
TOPIC_KINDS: tuple[str, ...] = ()

log = logging.getLogger(__name__)

Job = tuple[int, str, Meta, list[float], list[float]]


def install(ctx: StageContext) -> None:
    app, cc = ctx.app, ctx.cfg.analytics.capacity
    if not cc.enabled:
        return
    loop = run_analytics(
        ctx, "capacity", "toka-capacity-history", lambda state: CapacityLogic(cc, state)
    )
    state, guard, batches = loop.state, loop.guard, loop.batches

    def due_jobs() -> list[Job]:
        jobs = []
        assigned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == batches}
        for p in sorted(assigned):
            for key in state.keys(p):
                if not key.startswith("m|"):
                    continue
                meta = state.get(p, key, Meta.restore)
                if not meta.series or not meta.due(cc.min_history_hours * 3600):
                    continue
                res = resource_key(meta.host, meta.labels)
                days = sorted(meta.days)
                ts, ys = flatten(state.get(p, chunk_key(meta.name, res, d)) or [] for d in days)
                # a copy: batches keep changing the live one while the fit runs
                jobs.append((p, key, Meta.restore(meta.snapshot()), ts, ys))
        return jobs

    def fit_all(jobs: list[Job]) -> list[CapacityForecast | None]:
        out = []
        for _, _, meta, ts, ys in jobs:
            try:
                out.append(
                    build_forecast(
                        ts,
                        ys,
                        cc,
                        series=meta.series,
                        name=meta.name,
                        host=meta.host,
                        labels=meta.labels,
                        capacity=meta.capacity,
                        cache=meta.fit_cache,
                    )
                )
            except Exception:  # one bad series must not stop the others' forecasts
                guard.count("errors")
                log.exception("capacity: fit of %s failed", meta.series)
                out.append(None)
        return out

    @app.timer(interval=cc.refit_interval_seconds, name="toka-capacity-refit")
    async def refit() -> None:
        with guard.record():
            jobs = due_jobs()
            if not jobs:
                return
            t0 = time.perf_counter()
            results = await asyncio.get_running_loop().run_in_executor(None, fit_all, jobs)
            for (p, key, fitted, _, _), fc in zip(jobs, results, strict=True):
                current = state.get(p, key, Meta.restore) if state.owns(p) else None
                if current is not None:  # else: moved to another worker during the fit
                    current.fitted_points = fitted.points
                    current.fit_cache = fitted.fit_cache
                    state.touch(p, key)
                if fc is not None:
                    guard.count("forecasts")
                    await ctx.topics.capacity.send(key=fc.series.encode(), value=encode(fc))
                    await ctx.found(p, encode(fc))
            log.info("capacity: refit %d series in %.2fs", len(jobs), time.perf_counter() - t0)
