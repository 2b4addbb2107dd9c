"""A Faust agent that only decodes each metrics record with orjson and acks it: the Faust
counterpart of the raw measurement, i.e. the most any Faust stage can do on this machine."""

from __future__ import annotations

from typing import Any

import faust
import orjson

from schemas.config import TokaConfig

__all__ = ["install"]


def install(app: faust.App, topics: Any, cfg: TokaConfig) -> None:
    counted = [0]

    @app.agent(topics.metrics, name="toka-bench-noop")
    async def noop(stream: faust.StreamT) -> None:
        async for value in stream:
            counted[0] += len(orjson.loads(value)["samples"])
