"""Faust adapter of the anomaly stage: aggregates -> robust/STL scores and leak suspects.

Ordinary series are scored where they arrive (keyed by series id). Process RSS and the
host's memory series are re-keyed by host onto a by-host topic, so a process's growth and
its host's free memory meet on one partition (time to exhaustion needs both).
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from typing import Any

import faust

from pipeline.anomalies.leak import LeakParams, LeakState, observe_rss
from pipeline.anomalies.records import leak_anomaly, score_anomaly
from pipeline.anomalies.scoring import ScoreParams, SeriesState, score_value
from pipeline.deadletter import decode_or_dead_letter
from pipeline.stage_errors import ProcessingGuard
from pipeline.tables import PartitionView, partitioned_table
from schemas import WindowAggregate, encode
from schemas.config import TokaConfig

__all__ = ["TOPIC_KINDS", "host_topic", "install"]

log = logging.getLogger(__name__)

#: Topics of this stage besides the pipeline's own (create them up front, like the rest).
TOPIC_KINDS = ("anomalies-by-host",)
HOST_USED = "system_memory_used_bytes"
HOST_AVAILABLE = "system_memory_available_bytes"


def host_topic(cfg: TokaConfig) -> str:
    return cfg.kafka.topic(TOPIC_KINDS[0])


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    ac = cfg.analytics.anomalies
    if not ac.enabled:
        return
    sp = ScoreParams(
        history=ac.history_windows, min_history=ac.min_history, threshold=ac.threshold,
        periods_s=tuple(ac.seasonal_periods_seconds),
        buckets_per_period=ac.seasonal_buckets_per_period, min_strength=ac.seasonal_min_strength,
    )  # fmt: skip
    lp = LeakParams(
        bucket_s=ac.leak_bucket_seconds, min_hours=ac.leak_min_hours,
        keep_hours=max(24.0, 2 * ac.leak_min_hours),
        min_growth_percent=ac.leak_min_growth_percent, cooldown_s=ac.leak_cooldown_hours * 3600,
    )  # fmt: skip
    host_series = {ac.leak_series, ac.host_memory_total_series, HOST_USED, HOST_AVAILABLE}
    table = partitioned_table(app, "toka-anomaly-state", cfg.pipeline.partitions)
    guard = ProcessingGuard("anomalies")
    agg_name = cfg.kafka.topic("aggregates")
    by_host = app.topic(host_topic(cfg), key_type=bytes, value_type=bytes)
    source = app.topic(
        agg_name, host_topic(cfg), key_type=bytes, value_type=bytes, **_declared(cfg)
    )

    def wants(name: str) -> bool:
        return not ac.series or any(fnmatchcase(name, p) for p in ac.series)

    def on_series(agg: WindowAggregate, states: PartitionView) -> list[Any]:
        out = []
        # a counter's cumulative value always drifts out of range: score its rate
        for f in ["rate"] if agg.type == "counter" else ac.fields:
            value = getattr(agg, f, None)
            if not isinstance(value, int | float):
                continue
            key = f"r|{agg.series}|{f}"
            st = SeriesState.restore(states[key]) if key in states else SeriesState()
            sc = score_value(st, float(value), agg.window_end, sp)
            states[key] = st.snapshot()
            if sc is not None and sc.is_anomaly(ac.threshold):
                out.append(score_anomaly(agg, f, float(value), sc, threshold=ac.threshold))
        return out

    def on_host(agg: WindowAggregate, states: PartitionView) -> list[Any]:
        hk = f"h|{agg.host}"
        host = states.get(hk) or {}
        if agg.name != ac.leak_series:
            host = {**host, agg.name: agg.last}
            states[hk] = host
            return []
        # "available" is what the kernel can hand out (free + reclaimable cache); without
        # it, total - used
        total, used = host.get(ac.host_memory_total_series), host.get(HOST_USED)
        free = host.get(HOST_AVAILABLE)
        if free is None and total is not None and used is not None:
            free = total - used
        key = f"p|{agg.series}"
        st = LeakState.restore(states[key]) if key in states else LeakState()
        verdict = observe_rss(st, agg.window_end, agg.mean, lp, free)
        states[key] = st.snapshot()
        return [] if verdict is None else [leak_anomaly(agg, verdict)]

    @app.agent(source, name="toka-anomalies")
    async def anomalies(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            raw: bytes = event.value
            with guard.record():
                agg = await decode_or_dead_letter(
                    raw, msg, topics.deadletter, guard, WindowAggregate
                )
                if agg is None:
                    continue
                states = PartitionView(table, msg.partition)
                if agg.name in host_series:
                    if msg.topic == agg_name:
                        await by_host.send(key=agg.host.encode(), value=raw)
                        continue
                    found = on_host(agg, states)
                elif wants(agg.name):
                    found = on_series(agg, states)
                else:
                    continue
                for a in found:
                    guard.count(a.kind)
                    await topics.anomalies.send(key=a.series.encode(), value=encode(a))

    app.toka_guards = [*getattr(app, "toka_guards", []), guard]


def _declared(cfg: TokaConfig) -> dict[str, Any]:
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    return {"internal": True, "partitions": cfg.pipeline.partitions}
