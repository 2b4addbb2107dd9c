"""Drive the windowed-ingest runtime from Faust: manual-ack agents, the tick timer, sends
whose delivery futures the runtime tracks, acks on the agent's stream.

This is the only module that touches Faust streams for the windowed stages; their
decisions live in ``windowed_runtime`` (testable without a broker).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import faust

from pipeline.deadletter import dead_letter
from pipeline.runtime.context import StageContext
from pipeline.runtime.windowed_runtime import (
    Delivered,
    Output,
    Reject,
    WindowedIngest,
    WindowLogic,
)
from pipeline.windows.publish import AggregatePublisher
from schemas import encode
from schemas.records import WindowAggregate

__all__ = ["run_windowed"]


class _FaustOutputs:
    def __init__(self, ctx: StageContext, publisher: AggregatePublisher) -> None:
        self._ctx, self._publisher = ctx, publisher
        self.streams: dict[str, Any] = {}  # topic -> its agent's manual-ack stream

    async def dead_letter(self, record: Delivered, reject: Reject) -> list[Any]:
        letter = dead_letter(
            reject.reason, reject.error, record.topic, reject.payload,
            key=record.key, partition=record.partition, offset=record.offset,
        )  # fmt: skip
        topic = self._ctx.topics.deadletter
        return [await topic.send(key=record.topic.encode(), value=encode(letter))]

    async def publish(self, partition: int, aggregates: list[WindowAggregate]) -> list[Any]:
        return await self._publisher.publish(partition, aggregates)

    async def send(self, output: Output) -> list[Any]:
        return [await output.target.send(key=output.key, value=output.value)]

    async def closed(
        self, topic: str, partition: int, aggregates: list[WindowAggregate], now: float
    ) -> None:
        for sink in self._ctx.window_sinks:
            await sink(partition, aggregates, now)

    async def ack(self, handle: Any) -> None:
        await self.streams[handle.message.topic].ack(handle)


def run_windowed(
    ctx: StageContext,
    stage: str,
    sources: Sequence[tuple[Any, str]],
    open_partition: Callable[[str, int], WindowLogic],
) -> WindowedIngest:
    """Run ``open_partition``'s logic over every (Faust topic, agent name) of ``sources``."""
    app, pc = ctx.app, ctx.cfg.pipeline
    outputs = _FaustOutputs(ctx, AggregatePublisher(app, ctx.cfg))
    span = max(pc.window_seconds)
    ingest = WindowedIngest(
        open_partition, outputs, ctx.guard(stage), ctx.progress,
        span=span, idle_after=span + pc.grace_seconds + pc.idle_close_seconds + 2.0,
    )  # fmt: skip
    names = set()
    for topic, agent_name in sources:
        name = topic.get_topic_name()
        names.add(name)
        ctx.progress.watch(name)
        _agent(app, topic, agent_name, name, (ingest, outputs))

    @app.timer(interval=1.0, name=f"toka-{stage}-tick")
    async def tick() -> None:
        assigned = {
            (tp.topic, tp.partition) for tp in app.assignor.assigned_actives() if tp.topic in names
        }
        await ingest.tick(assigned)

    return ingest


def _agent(
    app: faust.App, topic: Any, agent_name: str, name: str,
    run: tuple[WindowedIngest, _FaustOutputs],
) -> None:  # fmt: skip
    ingest, outputs = run

    @app.agent(topic, name=agent_name)
    async def consume(stream: faust.StreamT) -> None:
        manual = cast("faust.Stream[Any]", stream).noack()  # acked by the runtime
        outputs.streams[name] = manual
        async for event in manual.events():
            msg = event.message
            await ingest.handle(
                Delivered(msg.topic, msg.partition, msg.offset, event.value, msg.key, event)
            )
