"""Faust adapter of the regression stage: aggregates and benchmark results -> regressions.

One agent reads four topics: aggregates, benchmark results, baseline commands
(``toka baseline``) and a by-subject topic. Aggregates whose labels carry a version
(``service.version``...) are re-keyed onto the by-subject topic first, so every version of
a series lands on one partition and v2 is compared with v1's baseline; others are tested
where they arrive. Detector state lives in a changelogged table keyed by partition.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import msgspec

from pipeline.deadletter import decode_or_dead_letter, send_dead_letter
from pipeline.regressions.detector import DetectorState, apply_command, observe_seasonal
from pipeline.regressions.runs import RunBaseline, RunParams, judge_run
from pipeline.regressions.subjects import (
    Watch,
    build_regression,
    series_subject,
    version_of,
    watched_value,
)
from pipeline.stage_errors import ProcessingGuard
from pipeline.tables import PartitionView, partitioned_table
from schemas import WindowAggregate, encode
from schemas.analytics import BaselineCommand, BenchmarkResult
from schemas.config import TokaConfig

__all__ = ["STATE_TABLE", "TOPIC_KINDS", "command_topic", "install", "subject_topic"]

#: Topics of this stage besides the pipeline's own: create them with the configured
#: partition count before a worker starts (a broker's auto-created default would not
#: match the table's changelog).
TOPIC_KINDS = ("baseline-commands", "regressions-by-subject")

log = logging.getLogger(__name__)

STATE_TABLE = "toka-regression-state"


def command_topic(cfg: TokaConfig) -> str:
    return cfg.kafka.topic(TOPIC_KINDS[0])


def subject_topic(cfg: TokaConfig) -> str:
    return cfg.kafka.topic(TOPIC_KINDS[1])


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    rc = cfg.analytics.regressions
    if not rc.enabled:
        return
    bc = cfg.analytics.bench
    watch = Watch(rc)
    table = partitioned_table(app, STATE_TABLE, cfg.pipeline.partitions)
    guard = ProcessingGuard("regressions")
    names = {k: cfg.kafka.topic(k) for k in ("aggregates", "benchmarks")}
    names["commands"] = command_topic(cfg)
    names["by_subject"] = subject_topic(cfg)
    by_subject = app.topic(names["by_subject"], key_type=bytes, value_type=bytes)
    source = app.topic(*names.values(), key_type=bytes, value_type=bytes, **_declared(cfg))

    async def emit(record: Any) -> None:
        await topics.regressions.send(key=record.subject.encode(), value=encode(record))

    def on_aggregate(agg: WindowAggregate, states: PartitionView) -> Any:
        picked = watched_value(agg, rc.fields)
        if picked is None:
            return None
        field, value = picked
        subject = series_subject(agg, rc.version_labels)
        version = version_of(agg.labels, rc.version_labels)
        key = f"s|{subject}"
        st = DetectorState.restore(states[key]) if key in states else DetectorState()
        finding = observe_seasonal(
            st, value, version, agg.window_end, p=watch.params(agg.name), sp=watch.season
        )
        states[key] = st.snapshot()
        if finding is None:
            return None
        labels = {k: v for k, v in agg.labels.items() if k not in rc.version_labels}
        return build_regression(
            finding, kind="series", subject=subject, field=field,
            name=agg.name, host=agg.host, labels=labels,
        )  # fmt: skip

    def on_benchmark(res: BenchmarkResult, states: PartitionView) -> Any:
        key = f"b|{res.benchmark}"
        base = RunBaseline.restore(states[key]) if key in states else RunBaseline()
        params = RunParams(
            p_value=bc.p_value, min_effect_percent=bc.min_effect_percent,
            higher_is_better=res.higher_is_better,
        )  # fmt: skip
        finding = judge_run(base, res.samples, res.version, params)
        states[key] = base.snapshot()
        if finding is None:
            return None
        return build_regression(
            finding, kind="benchmark", subject=res.benchmark, field=res.metric,
            name=res.benchmark, labels=res.labels,
        )  # fmt: skip

    def on_command(cmd: BaselineCommand, states: PartitionView) -> None:
        for key in (f"s|{cmd.subject}", f"b|{cmd.subject}"):
            if key not in states:
                continue
            if key.startswith("s|"):
                st = DetectorState.restore(states[key])
                apply_command(st, cmd.action, watch.params(""))
                states[key] = st.snapshot()
            else:
                base = RunBaseline.restore(states[key])
                if cmd.action == "reset":
                    base = RunBaseline(generation=base.generation + 1)
                else:
                    base.pinned = cmd.action == "pin"
                states[key] = base.snapshot()
            log.info("baseline %s: %s", cmd.subject, cmd.action)

    @app.agent(source, name="toka-regressions")
    async def regressions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            raw: bytes = event.value
            with guard.record():
                record = await decode_or_dead_letter(raw, msg, topics.deadletter, guard)
                if record is None:
                    continue
                states = PartitionView(table, msg.partition)
                out = None
                if isinstance(record, WindowAggregate):
                    if not watch.wants(record.name):
                        continue
                    subject = series_subject(record, rc.version_labels)
                    if msg.topic == names["aggregates"] and subject != record.series:
                        await by_subject.send(key=subject.encode(), value=raw)
                        continue
                    out = on_aggregate(record, states)
                elif isinstance(record, BenchmarkResult):
                    out = on_benchmark(record, states)
                elif isinstance(record, BaselineCommand):
                    on_command(record, states)
                else:
                    guard.count("unexpected_schema")
                    err = f"{type(record).__name__} is not an input of the regression stage"
                    await send_dead_letter(topics.deadletter, "unknown_schema", err, raw, msg)
                    continue
                if out is not None:
                    guard.count("regressions")
                    await emit(out)

    app.toka_guards = [*getattr(app, "toka_guards", []), guard]


def decode_state(value: bytes) -> dict[str, Any]:
    """A table value as written to the changelog (for ``toka baseline list``)."""
    return msgspec.json.decode(value)


def _declared(cfg: TokaConfig) -> dict[str, Any]:
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    return {"internal": True, "partitions": cfg.pipeline.partitions}
