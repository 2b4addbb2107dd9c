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

from agents.commands import CommandGate, Outcome
from pipeline.regressions.logic import RegressionLogic
from pipeline.runtime.analytics_runtime import Finding, Refused, run_analytics
from pipeline.runtime.context import StageContext
from pipeline.tables import WriteBehind
from schemas.analytics import BaselineCommand, BenchmarkResult
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
    app, cfg = ctx.app, ctx.cfg
    rc = cfg.analytics.regressions
    if not rc.enabled:
        return
    parts = cfg.pipeline.partitions
    commands = app.topic(command_topic(cfg), key_type=bytes, value_type=bytes)
    logic: RegressionLogic | None = None

    def make_logic(state: WriteBehind) -> RegressionLogic:
        nonlocal logic
        logic = RegressionLogic(rc, cfg.analytics.bench, state, ctx.topics.regressions)
        return logic

    # The local word on remote commands: refusals counted as command_refused_<reason>.
    command_guard = ctx.guard("baseline-commands")

    def count_refusal(outcome: Outcome) -> None:
        if outcome.outcome.startswith("refused"):
            command_guard.count(f"command_{outcome.outcome}")

    gate = CommandGate(
        "baseline", rc.commands, known=("pin", "unpin", "reset"), on_outcome=count_refusal
    )

    async def on_command(
        logic: RegressionLogic, cmd: BaselineCommand, raw: bytes, msg: Any
    ) -> None:
        copy = msg.key == COPY_KEY  # this stage's own fan-out to every partition
        verdict = gate.admit(cmd.id, cmd.action, cmd.subject, cmd.ts, count=not copy)
        if not verdict.allowed:
            return
        if copy:
            if logic.on_series_command(cmd, msg.partition):
                gate.record(verdict, f"applied to series on partition {msg.partition}")
            return
        done = logic.on_benchmark_command(cmd, msg.partition)
        gate.record(verdict, "applied to benchmark" if done else "fanned out to series")
        for q in range(parts):
            await commands.send(key=COPY_KEY, value=raw, partition=q)

    async def on_record(record: Any, raw: bytes, msg: Any) -> list[Finding]:
        assert logic is not None  # made before the agent starts
        p = msg.partition
        if isinstance(record, BenchmarkResult):
            return logic.on_benchmark(record, p)
        if isinstance(record, BaselineCommand):
            await on_command(logic, record, raw, msg)
            return []
        err = f"{type(record).__name__} is not an input of the regression stage"
        raise Refused("unknown_schema", err)

    run_analytics(
        ctx, "regressions", STATE_TABLE, make_logic, cfg.kafka.topic("benchmarks"),
        command_topic(cfg), on_record=on_record,
    )  # fmt: skip


def decode_state(value: bytes) -> dict[str, Any]:
    """A table value as written to the changelog (for ``toka baseline list``)."""
    return msgspec.json.decode(value)
