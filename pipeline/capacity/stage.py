"""Faust adapter of the capacity stage: resource aggregates -> history -> CapacityForecast.

Resource series and their totals (disk used and disk total of one mount) have different
series ids, hence different partitions of ``aggregates``; both are re-keyed by host and
labels onto a by-resource topic so they meet on one partition. History lives in a
changelogged table; a timer (``refit_interval_seconds``, not per record) refits every due
series in a thread, so the event loop keeps consuming while statsmodels works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust

from pipeline.capacity.forecast import build_forecast
from pipeline.capacity.history import (
    Meta,
    chunk_key,
    expire,
    flatten,
    ingest,
    meta_key,
    resource_key,
)
from pipeline.deadletter import decode_or_dead_letter
from pipeline.stage_errors import ProcessingGuard
from pipeline.tables import PartitionView, partitioned_table
from schemas import WindowAggregate, encode
from schemas.analytics import CapacityForecast
from schemas.config import TokaConfig

__all__ = ["TOPIC_KINDS", "install", "resource_topic"]

#: Topics of this stage besides the pipeline's own: create them with the configured
#: partition count before a worker starts (a broker's auto-created default would not
#: match the table's changelog).
TOPIC_KINDS = ("capacity-by-resource",)

log = logging.getLogger(__name__)


def resource_topic(cfg: TokaConfig) -> str:
    return cfg.kafka.topic(TOPIC_KINDS[0])


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    cc = cfg.analytics.capacity
    if not cc.enabled:
        return
    used_names = set(cc.series)
    total_of = {total: used for used, total in cc.series.items() if total}
    table = partitioned_table(app, "toka-capacity-history", cfg.pipeline.partitions)
    guard = ProcessingGuard("capacity")
    agg_name = cfg.kafka.topic("aggregates")
    res_name = resource_topic(cfg)
    by_resource = app.topic(res_name, key_type=bytes, value_type=bytes)
    source = app.topic(agg_name, res_name, key_type=bytes, value_type=bytes, **_declared(cfg))

    def on_resource(agg: WindowAggregate, states: PartitionView) -> None:
        res = resource_key(agg.host, agg.labels)
        used = total_of.get(agg.name, agg.name)
        mk = meta_key(used, res)
        meta = Meta.restore(states[mk]) if mk in states else Meta(used, agg.host, agg.labels)
        if agg.name in total_of:
            meta.capacity = agg.last
        else:
            meta.series = agg.series
            point = ingest(meta, agg.window_end, agg.mean, cc.bucket_seconds)
            if point is not None:
                ck = chunk_key(used, res, int(point[0] // 86400))
                states[ck] = [*states.get(ck, []), list(point)]
                for day in expire(meta, cc.retention_days):
                    states.pop(chunk_key(used, res, day), None)
        states[mk] = meta.snapshot()

    @app.agent(source, name="toka-capacity")
    async def capacity(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            raw: bytes = event.value
            with guard.record():
                agg = await decode_or_dead_letter(
                    raw, msg, topics.deadletter, guard, WindowAggregate
                )
                if agg is None:
                    continue
                if agg.name not in used_names and agg.name not in total_of:
                    continue
                if msg.topic == agg_name:
                    key = resource_key(agg.host, agg.labels).encode()
                    await by_resource.send(key=key, value=raw)
                    continue
                on_resource(agg, PartitionView(table, msg.partition))

    def due_jobs() -> list[tuple[PartitionView, str, Meta, list[float], list[float]]]:
        jobs = []
        assigned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == res_name}
        for partition in sorted(assigned):
            states = PartitionView(table, partition)
            for key in list(states):
                if not key.startswith("m|"):
                    continue
                meta = Meta.restore(states[key])
                if not meta.series or not meta.due(cc.min_history_hours * 3600):
                    continue
                res = resource_key(meta.host, meta.labels)
                chunks = (states.get(chunk_key(meta.name, res, d), []) for d in sorted(meta.days))
                ts, ys = flatten(chunks)
                jobs.append((states, key, meta, ts, ys))
        return jobs

    def fit_all(jobs: list[Any]) -> list[CapacityForecast | None]:
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
            for (states, key, meta, _, _), fc in zip(jobs, results, strict=True):
                current = Meta.restore(states[key])
                current.fitted_points = meta.points
                current.fit_cache = meta.fit_cache
                states[key] = current.snapshot()
                if fc is not None:
                    guard.count("forecasts")
                    await topics.capacity.send(key=fc.series.encode(), value=encode(fc))
            log.info("capacity: refit %d series in %.2fs", len(jobs), time.perf_counter() - t0)

    app.toka_guards = [*getattr(app, "toka_guards", []), guard]


def _declared(cfg: TokaConfig) -> dict[str, Any]:
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    return {"internal": True, "partitions": cfg.pipeline.partitions}
