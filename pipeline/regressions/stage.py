"""Faust adapter of the regression stage: aggregate batches and benchmark results ->
regressions.

One agent reads three topics: the AggregateBatch records of the windows and spans stages,
benchmark results and baseline commands (``toka baseline``). Every version of a series
must meet on one partition, so v2 is compared with v1's baseline. Batches guarantee it
without a re-keying hop: a batch goes to the partition number of the input it was folded
from, metrics are keyed by host and spans by service, and a version label never changes
the host of a series (its subject keeps the host) nor the service of a span.

``toka baseline`` sends a command keyed by subject: that partition holds a benchmark's
state (results are keyed by benchmark too), but a series' state sits on its host's
partition, which the command line cannot know. So the stage copies each command to every
partition of the command topic, and each copy resets the series state found there.

Detector state is keyed by partition in a changelogged table, kept live in memory and
written behind every ``analytics.state_flush_seconds`` and before each regression is
sent; offsets are committed only behind it (pipeline.tables.WriteBehind). A killed
worker's successor replays what the table lacks and skips what it has: no history lost,
no batch applied twice, no regression reported twice. Benchmark results and commands are
written at once.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from pipeline.deadletter import send_dead_letter
from pipeline.regressions.detector import DetectorState, apply_command, observe_seasonal
from pipeline.regressions.runs import RunBaseline, RunParams, judge_run
from pipeline.regressions.subjects import (
    Watch,
    build_regression,
    series_subject,
    version_of,
    watched_value,
)
from pipeline.runtime.analytics_runtime import Finding, run_analytics
from pipeline.runtime.context import StageContext
from schemas import WindowAggregate, encode
from schemas.analytics import BaselineCommand, BenchmarkResult, Regression
from schemas.config import TokaConfig

__all__ = ["STATE_TABLE", "TOPIC_KINDS", "command_topic", "install"]

#: Topics of this stage besides the pipeline's own: create them with the configured
#: partition count before a worker starts (a broker's auto-created default would not
#: match the table's changelog).
TOPIC_KINDS = ("baseline-commands",)

#: Key of the stage's per-partition copies of a command (the command line keys by subject).
COPY_KEY = b"~every-partition"

log = logging.getLogger(__name__)

STATE_TABLE = "toka-regression-state"


def command_topic(cfg: TokaConfig) -> str:
    return cfg.kafka.topic(TOPIC_KINDS[0])


def install(ctx: StageContext) -> None:
    app, cfg, topics = ctx.app, ctx.cfg, ctx.topics
    rc = cfg.analytics.regressions
    if not rc.enabled:
        return
    bc = cfg.analytics.bench
    watch = Watch(rc)
    parts = cfg.pipeline.partitions
    commands = app.topic(command_topic(cfg), key_type=bytes, value_type=bytes)

    def finding(record: Regression) -> Finding:
        return Finding(topics.regressions, record.subject.encode(), encode(record), "regressions")

    def on_aggregate(agg: WindowAggregate, p: int) -> Regression | None:
        picked = watched_value(agg, rc.fields)
        if picked is None:
            return None
        field, value = picked
        subject = series_subject(agg, rc.version_labels)
        version = version_of(agg.labels, rc.version_labels)
        st = state.use(p, f"s|{subject}", DetectorState.restore, DetectorState)
        finding = observe_seasonal(
            st, value, version, agg.window_end, p=watch.params(agg.name), sp=watch.season
        )
        if finding is None:
            return None
        labels = {k: v for k, v in agg.labels.items() if k not in rc.version_labels}
        return build_regression(
            finding, kind="series", subject=subject, field=field,
            name=agg.name, host=agg.host, labels=labels,
        )  # fmt: skip

    class Logic:
        #: Per-series state, dropped when unused for analytics.state_idle_hours.
        IDLE_PREFIXES = ("s|",)

        def on_aggregate(self, agg: WindowAggregate, p: int) -> list[Finding]:
            if not watch.wants(agg.name):
                return []
            out = on_aggregate(agg, p)
            return [] if out is None else [finding(out)]

    def on_benchmark(res: BenchmarkResult, p: int) -> Regression | None:
        base = state.use(p, f"b|{res.benchmark}", RunBaseline.restore, RunBaseline)
        params = RunParams(
            p_value=bc.p_value, min_effect_percent=bc.min_effect_percent,
            higher_is_better=res.higher_is_better,
        )  # fmt: skip
        finding = judge_run(base, res.samples, res.version, params)
        if finding is None:
            return None
        return build_regression(
            finding, kind="benchmark", subject=res.benchmark, field=res.metric,
            name=res.benchmark, labels=res.labels,
        )  # fmt: skip

    def on_series_command(cmd: BaselineCommand, p: int) -> None:
        st = state.get(p, f"s|{cmd.subject}", DetectorState.restore)
        if st is not None:
            apply_command(st, cmd.action, watch.params(""))
            state.touch(p, f"s|{cmd.subject}")
            log.info("baseline %s: %s", cmd.subject, cmd.action)

    def on_benchmark_command(cmd: BaselineCommand, p: int) -> None:
        base = state.get(p, f"b|{cmd.subject}", RunBaseline.restore)
        if base is not None:
            if cmd.action == "reset":
                base = RunBaseline(generation=base.generation + 1)
            else:
                base.pinned = cmd.action == "pin"
            state.put(p, f"b|{cmd.subject}", base)
            log.info("baseline %s: %s", cmd.subject, cmd.action)

    async def on_command(cmd: BaselineCommand, raw: bytes, msg: Any) -> None:
        if msg.key == COPY_KEY:
            on_series_command(cmd, msg.partition)
            return
        on_benchmark_command(cmd, msg.partition)
        for q in range(parts):
            await commands.send(key=COPY_KEY, value=raw, partition=q)

    async def on_record(record: Any, raw: bytes, msg: Any) -> list[Finding]:
        p = msg.partition
        if isinstance(record, BenchmarkResult):
            out = on_benchmark(record, p)
            return [] if out is None else [finding(out)]
        if isinstance(record, BaselineCommand):
            await on_command(record, raw, msg)
            return []
        run.guard.count("unexpected_schema")
        err = f"{type(record).__name__} is not an input of the regression stage"
        await send_dead_letter(run.deadletter, "unknown_schema", err, raw, msg)
        return []

    run = run_analytics(
        ctx, "regressions", STATE_TABLE, lambda _state: Logic(), cfg.kafka.topic("benchmarks"),
        command_topic(cfg), on_record=on_record,
    )  # fmt: skip
    state = run.state


def decode_state(value: bytes) -> dict[str, Any]:
    """A table value as written to the changelog (for ``toka baseline list``)."""
    return msgspec.json.decode(value)
