"""Faust adapter of the Alertmanager sink: consume ``toka.alerts``, post each state change,
re-send the active ones on a timer.

The active set lives in a changelogged table keyed by alerts partition, so a restarted or
rebalanced worker keeps re-sending the alerts still firing. An alert is posted before its
offset moves on, and ``deliver`` retries while no Alertmanager answers: an outage holds
the stream, it does not lose alerts. Nothing is installed when no URL is configured.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from pipeline.deadletter import decode_or_dead_letter
from pipeline.runtime.context import StageContext
from pipeline.sinks.alertmanager import active_payloads, payload, record
from pipeline.sinks.client import AlertmanagerClient
from pipeline.tables import PartitionView, partitioned_table
from schemas import Alert

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(ctx: StageContext) -> None:
    app, topics, cfg = ctx.app, ctx.topics, ctx.cfg
    pc = cfg.pipeline
    if not pc.alertmanager_urls:
        return
    resend = pc.alertmanager_resend_seconds
    client = AlertmanagerClient(
        pc.alertmanager_urls, pc.alertmanager_timeout_seconds,
        authorization=pc.alertmanager_auth.authorization("pipeline.alertmanager_auth"),
        ca_file=str(pc.alertmanager_ca_file) if pc.alertmanager_ca_file else None,
    )  # fmt: skip
    active = partitioned_table(app, "toka-alertmanager-active", pc.partitions)
    guard = ctx.guard("alertmanager")
    alerts_topic = cfg.kafka.topic("alerts")

    @app.agent(topics.alerts, name="toka-alertmanager-sink")
    async def sink(stream: faust.StreamT) -> None:
        async for event in stream.events():
            with guard.record():
                alert = await decode_or_dead_letter(
                    event.value, event.message, topics.deadletter, guard, Alert
                )  # a record someone else wrote to the alerts topic: nothing to post
                if alert is None:
                    continue
                if not await client.deliver([payload(alert, time.time(), resend)]):
                    guard.count("rejected")
                record(PartitionView(active, event.message.partition), alert)

    @app.timer(interval=resend, name="toka-alertmanager-resend")
    async def resend_active() -> None:
        now = time.time()
        items: list[dict[str, Any]] = []
        for tp in app.assignor.assigned_actives():
            if tp.topic == alerts_topic:
                items += active_payloads(PartitionView(active, tp.partition), now, resend)
        with guard.record():
            await client.deliver(items)

    @app.service
    class _Close(faust.Service):  # close the HTTP session with the app
        async def on_stop(self) -> None:
            await client.close()

    ctx.services["alertmanager"] = client
