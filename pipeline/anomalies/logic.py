"""The anomaly stage's logic (no Faust): per aggregate, robust/STL scores and leak
suspects over a WriteBehind state, driven by the analytics loop (pipeline.runtime)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from pipeline.anomalies.leak import LeakParams, LeakState, observe_rss
from pipeline.anomalies.records import leak_anomaly, score_anomaly
from pipeline.anomalies.scoring import ScoreParams, SeriesState, score_value
from pipeline.runtime.analytics_runtime import Finding
from pipeline.tables import WriteBehind
from schemas import WindowAggregate, encode
from schemas.analytics import Anomaly
from schemas.config.analytics import AnomalyConfig

__all__ = ["HOST_AVAILABLE", "HOST_USED", "AnomalyLogic"]

HOST_USED = "system_memory_used_bytes"
HOST_AVAILABLE = "system_memory_available_bytes"


class AnomalyLogic:
    #: Per-series state, dropped when unused for analytics.state_idle_hours.
    IDLE_PREFIXES = ("r|", "p|", "h|")

    def __init__(self, ac: AnomalyConfig, state: WriteBehind, topic: object) -> None:
        self.ac, self.state, self.topic = ac, state, topic
        self.sp = ScoreParams(
            history=ac.history_windows, min_history=ac.min_history, threshold=ac.threshold,
            periods_s=tuple(ac.seasonal_periods_seconds),
            buckets_per_period=ac.seasonal_buckets_per_period,
            min_strength=ac.seasonal_min_strength,
        )  # fmt: skip
        self.lp = LeakParams(
            bucket_s=ac.leak_bucket_seconds, min_hours=ac.leak_min_hours,
            keep_hours=max(24.0, 2 * ac.leak_min_hours),
            min_growth_percent=ac.leak_min_growth_percent,
            cooldown_s=ac.leak_cooldown_hours * 3600,
        )  # fmt: skip
        self.host_series = {ac.leak_series, ac.host_memory_total_series, HOST_USED, HOST_AVAILABLE}
        self._wanted: dict[str, bool] = {}  # name -> scored? (fnmatch per aggregate is not cheap)

    def wants(self, name: str) -> bool:
        hit = self._wanted.get(name)
        if hit is None:
            ac = self.ac
            hit = self._wanted[name] = not ac.series or any(fnmatchcase(name, p) for p in ac.series)
        return hit

    def on_aggregate(self, agg: WindowAggregate, p: int) -> list[Finding]:
        found: list[Anomaly] = []
        if agg.name in self.host_series:
            self.on_host(agg, p, found)
        elif self.wants(agg.name):
            self.on_series(agg, p, found)
        return [Finding(self.topic, a.series.encode(), encode(a), a.kind) for a in found]

    def on_series(self, agg: WindowAggregate, p: int, out: list[Anomaly]) -> None:
        ac, state = self.ac, self.state
        # a counter's cumulative value always drifts out of range: score its rate
        for f in ["rate"] if agg.type == "counter" else ac.fields:
            value = getattr(agg, f, None)
            if not isinstance(value, int | float):
                continue
            st = state.use(p, f"r|{agg.series}|{f}", SeriesState.restore, SeriesState)
            sc = score_value(st, float(value), agg.window_end, self.sp)
            if sc is not None and sc.is_anomaly(ac.threshold):
                out.append(score_anomaly(agg, f, float(value), sc, threshold=ac.threshold))

    def on_host(self, agg: WindowAggregate, p: int, out: list[Anomaly]) -> None:
        ac, state = self.ac, self.state
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
        verdict = observe_rss(st, agg.window_end, agg.mean, self.lp, free)
        if verdict is not None:
            out.append(leak_anomaly(agg, verdict))
