"""Synthetic batches, so a user can watch an alert fire (and resolve) without loading a host."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from agents.batch import metric_batch, metric_record
from agents.publish.kafka import KafkaSink, producer_options
from schemas.records import Sample

if TYPE_CHECKING:
    from schemas.config import TokaConfig

__all__ = ["publish_synthetic", "synthetic_samples"]


def synthetic_samples(cpu: float | None, memory: float | None) -> list[Sample]:
    out = []
    if cpu is not None:
        out.append(Sample(name="system_cpu_percent", value=cpu))
    if memory is not None:
        out.append(Sample(name="system_memory_percent", value=memory))
    return out


def publish_synthetic(
    cfg: TokaConfig,
    *,
    cpu: float | None,
    memory: float | None,
    host: str | None = None,
    count: int = 1,
    interval: float = 1.0,
) -> list[str]:
    """Publish ``count`` batches ``interval`` seconds apart; return their record ids.

    Straight to Kafka, no spool: a one-shot command should fail loudly if nothing listens.
    """
    samples = synthetic_samples(cpu, memory)
    return asyncio.run(_publish(cfg, samples, host or cfg.agent.host, count, interval))


async def _publish(
    cfg: TokaConfig, samples: list[Sample], host: str, count: int, interval: float
) -> list[str]:
    timeout = cfg.agent.publisher.request_timeout_seconds
    sink = KafkaSink(producer_options(cfg.kafka.client_options()), timeout_s=timeout)
    topic = cfg.kafka.topic("metrics")
    ids = []
    try:
        for i in range(count):
            if i:
                await asyncio.sleep(interval)
            batch = metric_batch(host, "synthetic", samples, time.time(), {"env": "synthetic"})
            await sink.send([metric_record(topic, batch)])
            ids.append(batch.id)
    finally:
        await sink.close()
    return ids
