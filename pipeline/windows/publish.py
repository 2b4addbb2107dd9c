"""Send closed windows: one record per series to ``toka.aggregates`` (for outside
consumers), and the whole close as one AggregateBatch to the internal batches topic (for
the analytics stages, which then pay Faust's per-record cost once per close).

Both go through the transport producer, not Faust's topic layer: half the CPU per
aggregate (bench/pipeline, 10 samples per aggregate: 38k -> 81k samples/s).
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.web.sensor import count_direct_sends
from schemas import AggregateBatch, WindowAggregate, encode, schema_name
from schemas.config import TokaConfig
from schemas.records import new_id

__all__ = ["AggregatePublisher", "batch_bytes"]

_BATCH_HEAD = b'{"schema":' + orjson.dumps(schema_name(AggregateBatch)) + b',"id":'


def batch_bytes(encoded: list[bytes]) -> bytes:
    """An AggregateBatch from already encoded aggregates (no second encode of each)."""
    return b"".join(
        (_BATCH_HEAD, orjson.dumps(new_id()), b',"aggregates":[', b",".join(encoded), b"]}")
    )


class AggregatePublisher:
    def __init__(self, app: Any, cfg: TokaConfig) -> None:
        self._app = app
        self.aggregates_topic = cfg.kafka.topic("aggregates")
        self.batches_topic = cfg.kafka.topic("aggregate-batches")
        self._partitions = cfg.pipeline.partitions

    async def publish(self, partition: int, aggregates: list[WindowAggregate]) -> None:
        """``partition``: of the input the windows were folded from. The batch goes to the
        same number (modulo ours: a Collector's OTLP topic may have more), so every window of
        a series always reaches the same analytics partition."""
        if not aggregates:
            return
        send = self._app.producer.send
        name = self.aggregates_topic
        encoded = []
        for agg in aggregates:
            value = encode(agg)
            encoded.append(value)
            await send(name, agg.series.encode(), value, None, None, None)
        batch = batch_bytes(encoded)
        await send(self.batches_topic, None, batch, partition % self._partitions, None, None)
        count_direct_sends(self._app, name, len(aggregates))
        count_direct_sends(self._app, self.batches_topic, 1)
