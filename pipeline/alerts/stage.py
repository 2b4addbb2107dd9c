"""The alerts stage: the alerting engine over every closed window, in the same process.

``install`` subscribes one ``AlertStage`` to the context's window sinks, so the metrics
windows and the span RED metrics both hand it their closed windows (no Kafka hop): one
rule set, one changelogged state table keyed by partition (input topics have the same
partition count, and Faust assigns equal partition numbers of them to the same worker),
and one timer for time-driven transitions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import faust

from pipeline.alerts.defaults import load_rules
from pipeline.runtime.context import StageContext
from pipeline.runtime.guard import ProcessingGuard
from pipeline.tables import PartitionView, make_durable, partitioned_table
from schemas import encode
from schemas.config import TokaConfig
from schemas.records import Alert, WindowAggregate

__all__ = ["AlertStage", "install"]


class AlertStage:
    def __init__(self, app: faust.App, topics: Any, cfg: TokaConfig) -> None:
        pc = cfg.pipeline
        self.app = app
        self.topics = topics
        self.rules = load_rules(
            pc.rules_file, cfg.monitoring.thresholds, default_window=min(pc.window_seconds)
        )
        self.state = partitioned_table(app, "toka-alert-state", pc.partitions)
        self.guard = ProcessingGuard("alerts")
        self._input_topics = {cfg.kafka.topic("metrics"), cfg.kafka.topic("spans")}

        @app.timer(interval=1.0, name="toka-alerts-tick")
        async def tick() -> None:
            now = time.time()
            for partition in self.assigned_partitions():
                with self.guard.record():
                    alerts = self.rules.tick(PartitionView(self.state, partition), now)
                    await self.publish(partition, alerts)

    def assigned_partitions(self) -> set[int]:
        actives = self.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic in self._input_topics}

    async def evaluate(
        self, partition: int, aggregates: Iterable[WindowAggregate], now: float
    ) -> None:
        """Run the rules over closed windows of one input partition; publish what changed."""
        states = PartitionView(self.state, partition)
        alerts: list[Alert] = []
        for agg in aggregates:
            alerts += self.rules.evaluate(agg, states, now)
        await self.publish(partition, alerts)

    async def publish(self, partition: int, alerts: list[Alert]) -> None:
        if not alerts:
            return
        # The state change must be durable before anyone hears of it: a worker killed
        # right after notifying would otherwise restore the old state and notify again.
        await make_durable(self.app, self.state, [partition])
        for alert in alerts:
            await self.topics.alerts.send(key=alert.fingerprint.encode(), value=encode(alert))


def install(ctx: StageContext) -> None:
    stage = AlertStage(ctx.app, ctx.topics, ctx.cfg)
    ctx.guards.append(stage.guard)

    async def on_closed(partition: int, aggregates: list[WindowAggregate], now: float) -> None:
        # Alert state is keyed by input partition; an OTLP partition with no toka.spans or
        # toka.metrics twin on this worker (more OTLP partitions than ours) has no state
        # slot here, so its RED windows are emitted but not alerted on.
        if partition in stage.assigned_partitions():
            await stage.evaluate(partition, aggregates, now)

    ctx.window_sinks.append(on_closed)
    ctx.services["alerts"] = stage
