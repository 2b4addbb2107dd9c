"""A Faust agent that only decodes each metrics record with orjson and acks it: the Faust
counterpart of the raw measurement, i.e. the most any Faust stage can do on this machine."""

from __future__ import annotations

import faust
import orjson

from pipeline.runtime.context import StageContext

__all__ = ["install"]


def install(ctx: StageContext) -> None:
    counted = [0]

    @ctx.app.agent(ctx.topics.metrics, name="toka-bench-noop")
    async def noop(stream: faust.StreamT) -> None:
        async for value in stream:
            counted[0] += len(orjson.loads(value)["samples"])
