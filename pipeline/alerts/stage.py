"""Faust adapter of the alerting engine, shared by every stage that closes windows.

The metrics windows and the span RED metrics both hand their closed windows to one
``AlertStage``: one rule set, one changelogged state table keyed by partition (input
topics have the same partition count, and Faust assigns equal partition numbers of them
to the same worker), and one timer for time-driven transitions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, cast

import faust

from pipeline.alerts.defaults import worker_rules
from pipeline.stage_errors import ProcessingGuard, register_guard
from pipeline.tables import PartitionView, make_durable, partitioned_table
from schemas import encode
from schemas.config import TokaConfig
from schemas.records import Alert, WindowAggregate

__all__ = ["AlertStage", "alert_stage"]


class AlertStage:
    def __init__(self, app: faust.App, topics: Any, cfg: TokaConfig) -> None:
        pc = cfg.pipeline
        self.app = app
        self.topics = topics
        self.rules = worker_rules(cfg)
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


def alert_stage(app: faust.App, topics: Any, cfg: TokaConfig) -> AlertStage:
    """The app's one AlertStage, created by the first stage that asks for it."""
    stage = getattr(app, "toka_alert_stage", None)
    if stage is None:
        stage = cast(Any, app).toka_alert_stage = AlertStage(app, topics, cfg)
        register_guard(app, stage.guard)
    return stage
