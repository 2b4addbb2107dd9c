"""The regression stage's logic (no Faust): detectors per series and baselines per
benchmark over a WriteBehind state, driven by the analytics loop (pipeline.runtime)."""

from __future__ import annotations

import logging

from pipeline.regressions.detector import DetectorState, apply_command, observe_seasonal
from pipeline.regressions.runs import RunBaseline, RunParams, judge_run
from pipeline.regressions.subjects import (
    Watch,
    build_regression,
    series_subject,
    version_of,
    watched_value,
)
from pipeline.runtime.analytics_runtime import Finding
from pipeline.tables import WriteBehind
from schemas import WindowAggregate, encode
from schemas.analytics import BaselineCommand, BenchmarkResult, Regression
from schemas.config.analytics import BenchConfig, RegressionConfig

__all__ = ["RegressionLogic"]

log = logging.getLogger(__name__)


class RegressionLogic:
    #: Per-series state, dropped when unused for analytics.state_idle_hours (benchmark
    #: baselines stay: runs are rare).
    IDLE_PREFIXES = ("s|",)

    def __init__(
        self, rc: RegressionConfig, bc: BenchConfig, state: WriteBehind, topic: object
    ) -> None:
        self.rc, self.bc, self.state, self.topic = rc, bc, state, topic
        self.watch = Watch(rc)

    def finding(self, record: Regression) -> Finding:
        return Finding(self.topic, record.subject.encode(), encode(record), "regressions")

    def on_aggregate(self, agg: WindowAggregate, p: int) -> list[Finding]:
        rc, watch = self.rc, self.watch
        if not watch.wants(agg.name):
            return []
        picked = watched_value(agg, rc.fields)
        if picked is None:
            return []
        field, value = picked
        subject = series_subject(agg, rc.version_labels)
        version = version_of(agg.labels, rc.version_labels)
        st = self.state.use(p, f"s|{subject}", DetectorState.restore, DetectorState)
        found = observe_seasonal(
            st, value, version, agg.window_end, p=watch.params(agg.name), sp=watch.season
        )
        if found is None:
            return []
        labels = {k: v for k, v in agg.labels.items() if k not in rc.version_labels}
        return [self.finding(build_regression(
            found, kind="series", subject=subject, field=field,
            name=agg.name, host=agg.host, labels=labels,
        ))]  # fmt: skip

    def on_benchmark(self, res: BenchmarkResult, p: int) -> list[Finding]:
        bc = self.bc
        base = self.state.use(p, f"b|{res.benchmark}", RunBaseline.restore, RunBaseline)
        params = RunParams(
            p_value=bc.p_value, min_effect_percent=bc.min_effect_percent,
            higher_is_better=res.higher_is_better,
        )  # fmt: skip
        found = judge_run(base, res.samples, res.version, params)
        if found is None:
            return []
        return [self.finding(build_regression(
            found, kind="benchmark", subject=res.benchmark, field=res.metric,
            name=res.benchmark, labels=res.labels,
        ))]  # fmt: skip

    def on_series_command(self, cmd: BaselineCommand, p: int) -> bool:
        """Applies ``cmd`` to the series' detector on partition ``p``; False: none here."""
        st = self.state.get(p, f"s|{cmd.subject}", DetectorState.restore)
        if st is not None:
            apply_command(st, cmd.action, self.watch.params(""))
            self.state.touch(p, f"s|{cmd.subject}")
            log.info("baseline %s: %s", cmd.subject, cmd.action)
        return st is not None

    def on_benchmark_command(self, cmd: BaselineCommand, p: int) -> bool:
        """Applies ``cmd`` to the benchmark's baseline; False: no such benchmark here."""
        base = self.state.get(p, f"b|{cmd.subject}", RunBaseline.restore)
        if base is not None:
            if cmd.action == "reset":
                base = RunBaseline(generation=base.generation + 1)
            else:
                base.pinned = cmd.action == "pin"
            self.state.put(p, f"b|{cmd.subject}", base)
            log.info("baseline %s: %s", cmd.subject, cmd.action)
        return base is not None
