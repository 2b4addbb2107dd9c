"""Faust adapter of the anomaly stage: aggregate batches -> robust/STL scores and leak
suspects.

A process's RSS and its host's memory series must meet on one partition (time to
exhaustion needs both). Batches guarantee it without a re-keying hop: they come from the
windows stage on the partition number of the metrics they were folded from, and metrics
are keyed by host, so every series of a host (its processes' RSS included) arrives on one
partition, in order.

State (per series field, per process, per host's memory) is keyed by partition in a
changelogged table, kept live in memory and written behind every
``analytics.state_flush_seconds`` and before each anomaly is sent; offsets are committed
only behind it (pipeline.tables.WriteBehind). A killed worker's successor replays what
the table lacks and skips what it has: no history lost, no batch applied twice, no
anomaly reported twice.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase

from pipeline.anomalies.leak import LeakParams, LeakState, observe_rss
from pipeline.anomalies.records import leak_anomaly, score_anomaly
from pipeline.anomalies.scoring import ScoreParams, SeriesState, score_value
from pipeline.runtime.analytics_runtime import Finding, run_analytics
from pipeline.runtime.context import StageContext
from schemas import WindowAggregate, encode
from schemas.analytics import Anomaly

__all__ = ["TOPIC_KINDS", "install"]

log = logging.getLogger(__name__)

#: Topics of this stage besides the pipeline's own (none: it reads aggregate-batches).
TOPIC_KINDS: tuple[str, ...] = ()
HOST_USED = "system_memory_used_bytes"
HOST_AVAILABLE = "system_memory_available_bytes"


def install(ctx: StageContext) -> None:
    ac = ctx.cfg.analytics.anomalies
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
    wanted: dict[str, bool] = {}  # name -> scored? (fnmatch per aggregate is not cheap)

    def wants(name: str) -> bool:
        hit = wanted.get(name)
        if hit is None:
            hit = wanted[name] = not ac.series or any(fnmatchcase(name, p) for p in ac.series)
        return hit

    def on_series(agg: WindowAggregate, p: int, out: list[Anomaly]) -> None:
        # a counter's cumulative value always drifts out of range: score its rate
        for f in ["rate"] if agg.type == "counter" else ac.fields:
            value = getattr(agg, f, None)
            if not isinstance(value, int | float):
                continue
            st = state.use(p, f"r|{agg.series}|{f}", SeriesState.restore, SeriesState)
            sc = score_value(st, float(value), agg.window_end, sp)
            if sc is not None and sc.is_anomaly(ac.threshold):
                out.append(score_anomaly(agg, f, float(value), sc, threshold=ac.threshold))

    def on_host(agg: WindowAggregate, p: int, out: list[Anomaly]) -> None:
        host = state.use(p, f"h|{agg.host}", None, dict)
        if agg.name != ac.leak_series:
            host[agg.name] = agg.last
            return
        # "available" is what the kernel can hand out (free + reclaimable cache); without
        # it, total - used
        total, used = host.get(ac.host_memory_total_series), host.get(HOST_USED)
        free = host.get(HOST_AVAILABLE)
        if free is None and total is not None and used is not None:
            free = total - used
        st = state.use(p, f"p|{agg.series}", LeakState.restore, LeakState)
        verdict = observe_rss(st, agg.window_end, agg.mean, lp, free)
        if verdict is not None:
            out.append(leak_anomaly(agg, verdict))

    class Logic:
        #: Per-series state, dropped when unused for analytics.state_idle_hours.
        IDLE_PREFIXES = ("r|", "p|", "h|")

        def on_aggregate(self, agg: WindowAggregate, p: int) -> list[Finding]:
            handle = on_host if agg.name in host_series else on_series if wants(agg.name) else None
            found: list[Anomaly] = []
            if handle is not None:
                handle(agg, p, found)
            return [
                Finding(ctx.topics.anomalies, a.series.encode(), encode(a), a.kind) for a in found
            ]

    state = run_analytics(ctx, "anomalies", "toka-anomaly-state", Logic()).state
