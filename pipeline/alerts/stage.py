"""The alerts stage: the alerting engine over every closed window, in the same process.

``install`` subscribes one ``AlertStage`` to the context's window sinks, so the metrics
windows and the span RED metrics both hand it their closed windows (no Kafka hop): one
rule set, one changelogged state table keyed by partition (input topics have the same
partition count, and Faust assigns equal partition numbers of them to the same worker),
and one timer for time-driven transitions.

Send, then commit: the alerts of a change are delivered to ``toka.alerts`` before the state
change is written to the changelog. A worker killed in between restores the old state and
sends the same alerts again on replay; each carries a deterministic id (fingerprint,
status, startsAt), so that resend is a duplicate consumers drop and Alertmanager folds into
the alert it has, never a second page. The other order lost the alert for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import faust

from pipeline.alerts.defaults import worker_rules
from pipeline.alerts.staged import (
    EVALUATION_FAILED,
    Failed,
    Staged,
    evaluate_each,
    send_then_commit,
    tick_each,
)
from pipeline.runtime.context import StageContext
from pipeline.runtime.guard import ProcessingGuard
from pipeline.tables import PartitionView, make_durable, partitioned_table
from schemas import decode, encode
from schemas.config import TokaConfig
from schemas.records import Alert, WindowAggregate

__all__ = ["AlertStage", "install"]

log = logging.getLogger(__name__)


class AlertStage:
    def __init__(self, app: faust.App, topics: Any, cfg: TokaConfig) -> None:
        pc = cfg.pipeline
        self.app = app
        self.topics = topics
        self.rules = worker_rules(cfg)
        self.state = partitioned_table(app, "toka-alert-state", pc.partitions)
        self.guard = ProcessingGuard("alerts")
        self._input_topics = {cfg.kafka.topic("metrics"), cfg.kafka.topic("spans")}
        self._aggregates_topic = cfg.kafka.topic("aggregates")
        # One change of a partition's state at a time: the windows and spans agents and the
        # timer would otherwise read a state whose last change is still being sent.
        self._lock = asyncio.Lock()
        self._logged_tick_failure = float("-inf")

        @app.timer(interval=1.0, name="toka-alerts-tick")
        async def tick() -> None:
            now = time.time()
            for partition in self.assigned_partitions():
                with self.guard.record():
                    async with self._lock:
                        staged = Staged(PartitionView(self.state, partition))
                        outcome = tick_each(self.rules, staged, now)
                        self._count_failed_instances(outcome.failed_instances, now)
                        await self.publish(partition, outcome.alerts, staged)

    def assigned_partitions(self) -> set[int]:
        actives = self.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic in self._input_topics}

    async def evaluate(
        self, partition: int, aggregates: Iterable[WindowAggregate], now: float
    ) -> None:
        """Run the rules over closed windows of one input partition; publish what changed.
        An aggregate whose evaluation raises is counted and dead-lettered; the others'
        alerts still go out."""
        async with self._lock:
            staged = Staged(PartitionView(self.state, partition))
            outcome = evaluate_each(self.rules, aggregates, staged, now)
            for failed in outcome.failed:
                await self._dead_letter(partition, failed)
            await self.publish(partition, outcome.alerts, staged)

    async def evaluate_finding(self, partition: int, value: bytes, now: float) -> None:
        """Run the finding rules over one sent finding; publish what changed. A finding
        that fails to evaluate is counted and logged (it is on its own topic already)."""
        async with self._lock:
            staged = Staged(PartitionView(self.state, partition))
            try:
                alerts = self.rules.evaluate_finding(decode(value), staged, now)
            except Exception as exc:  # one bad finding must not stop the analytics stage
                self.guard.count(EVALUATION_FAILED)
                log.warning("alerts: finding not evaluated: %s", exc)
                return
            try:
                await self.publish(partition, alerts, staged)
            except Exception as exc:  # the analytics stage must go on; its finding is sent
                self.guard.count("finding_alerts_unsent")
                log.warning("alerts: %d finding alert(s) not sent: %s", len(alerts), exc)

    async def publish(self, partition: int, alerts: list[Alert], staged: Staged) -> None:
        """Send ``alerts`` and wait for their delivery, then apply ``staged`` (the state
        changes that produced them) and make it durable. A send that fails raises before
        the state changes: the next evaluation notifies again."""

        async def commit() -> None:
            await make_durable(self.app, self.state, [partition])

        await send_then_commit(alerts, staged, self._send, commit)

    async def _send(self, alerts: list[Alert]) -> None:
        sent = [
            await self.topics.alerts.send(key=alert.fingerprint.encode(), value=encode(alert))
            for alert in alerts
        ]
        await asyncio.gather(*sent)  # delivered (acks=all), or raises

    def _count_failed_instances(self, failed: list[tuple[str, str]], now: float) -> None:
        # No record to dead-letter: a timer transition. A broken state fails every second,
        # so the log says it once a minute; the count says how often.
        if not failed:
            return
        self.guard.count("tick_failed", len(failed))
        if now - self._logged_tick_failure >= 60.0:
            self._logged_tick_failure = now
            key, error = failed[0]
            log.warning("alerts: %d rule instance(s) not advanced, e.g. %s: %s",
                        len(failed), key, error)  # fmt: skip

    async def _dead_letter(self, partition: int, failed: Failed) -> None:
        self.guard.count(EVALUATION_FAILED)
        self.guard.count("errors")  # toka_worker_records_failed: an unexpected error
        log.warning("alerts: aggregate %s not evaluated: %s", failed.aggregate.id, failed.error)
        record = failed.dead_letter(self._aggregates_topic, partition)
        await self.topics.deadletter.send(key=self._aggregates_topic.encode(), value=encode(record))


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

    async def on_finding(partition: int, value: bytes) -> None:
        if stage.rules.has_finding_rules and partition in stage.assigned_partitions():
            await stage.evaluate_finding(partition, value, time.time())

    ctx.finding_sinks.append(on_finding)
    ctx.services["alerts"] = stage
