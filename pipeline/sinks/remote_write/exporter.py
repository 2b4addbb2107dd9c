"""``toka remote-write``: the output topics into Prometheus by remote write.

A process of its own, not a stage of the worker: a receiver that is down must hold only
this exporter, never the worker's alert path (a Faust worker has one consumer for all its
agents, and an agent that stops taking records stops the others' input too), and it
scales and deploys apart from the workers (next to Prometheus, say). It is one Kafka
consumer group; its offsets are committed only after the receiver took the samples, so
the records themselves are the retry buffer: nothing is queued beside them, and a crash
or a receiver down for minutes loses nothing (at worst samples are sent twice, which
Prometheus takes as duplicates).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from pipeline.sinks.remote_write.batching import requests_of
from pipeline.sinks.remote_write.naming import (
    Point,
    aggregate_points,
    alert_points,
    finding_points,
)
from pipeline.sinks.remote_write.proto import encode_request
from pipeline.sinks.remote_write.sender import RemoteWriteSender
from schemas import decode
from schemas.aggregates import read_aggregates
from schemas.analytics import Anomaly, CapacityForecast, Regression
from schemas.config import TokaConfig
from schemas.errors import DecodeError
from schemas.records import Alert

__all__ = ["RemoteWriteExporter"]

log = logging.getLogger(__name__)

_FINDINGS = (Regression, Anomaly, CapacityForecast)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter("toka_remote_write_records", "Records read", ["topic"], registry=r)
        self.bad = Counter(
            "toka_remote_write_bad_records", "Records not decodable (skipped)", ["topic"],
            registry=r,
        )  # fmt: skip
        self.samples = Counter(
            "toka_remote_write_samples", "Samples by outcome: sent (taken) or rejected (4xx, "
            "never retried)", ["outcome"], registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "toka_remote_write_retries", "Requests retried, by reason (HTTP status or network)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.last_sent = Gauge(
            "toka_remote_write_last_sent_timestamp_seconds",
            "Newest sample timestamp the receiver took", registry=r,
        )  # fmt: skip


class RemoteWriteExporter:
    def __init__(self, cfg: TokaConfig) -> None:
        rw = cfg.remote_write
        if rw.url is None:
            raise ValueError("remote_write.url is not set")
        self.cfg = cfg
        self.metrics = _Metrics()
        topics = []
        if rw.aggregates:
            topics.append(cfg.kafka.topic("aggregates"))
        if rw.findings:
            topics += [cfg.kafka.topic(k) for k in ("regressions", "anomalies", "capacity")]
        if rw.alerts:
            topics.append(cfg.kafka.topic("alerts"))
        self.topics = topics
        self.group_id = f"{cfg.pipeline.app_id}-remote-write"
        self.sender = RemoteWriteSender(
            rw.url,
            headers={k: v.get_secret_value() for k, v in rw.headers.items()},
            timeout=rw.timeout_seconds,
            backoff=lambda: _backoff(rw.min_backoff_seconds, rw.max_backoff_seconds),
            on_retry=lambda reason: self.metrics.retries.labels(reason).inc(),
        )

    def points(self, topic: str, value: bytes) -> list[Point]:
        """The samples of one record; a bad record is counted and skipped (the stage that
        wrote it dead-letters its own bad input; nothing here can repair it)."""
        self.metrics.records.labels(topic).inc()
        try:
            if topic == self.cfg.kafka.topic("aggregates"):
                return [p for agg in read_aggregates(value) for p in aggregate_points(agg)]
            record = decode(value)
            if isinstance(record, Alert):
                return alert_points(record)
            if not isinstance(record, _FINDINGS):
                raise DecodeError("unknown_schema", f"{type(record).__name__} is not a finding")
            return finding_points(record)
        except DecodeError as exc:
            self.metrics.bad.labels(topic).inc()
            log.warning("remote write: record on %s skipped: %s", topic, exc)
            return []

    async def deliver(self, points: list[Point], stop: asyncio.Event) -> bool:
        """Send every point; False when stopped before the receiver took them all."""
        limit = self.cfg.remote_write.max_samples_per_request
        for series, count in requests_of(points, limit):
            status = await self.sender.send(encode_request(series), stop)
            if status is None:
                return False
            self.metrics.samples.labels("sent" if status < 300 else "rejected").inc(count)
            if status < 300:
                newest = max(ts for _, samples in series for ts, _ in samples)
                self.metrics.last_sent.set(newest / 1000)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import CommitFailedError, IllegalStateError

        consumer = AIOKafkaConsumer(
            *self.topics, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", **self.cfg.kafka.client_options(),
        )  # fmt: skip
        await consumer.start()
        try:
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=500, max_records=20_000)
                if not fetched:
                    continue
                points: list[Point] = []
                offsets: dict[Any, int] = {}
                for tp, messages in fetched.items():
                    for message in messages:
                        if message.value is not None:
                            points += self.points(tp.topic, message.value)
                    offsets[tp] = messages[-1].offset + 1
                if not await self.deliver(points, stop):
                    break  # stopped mid-retry: uncommitted, the next run sends them
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, IllegalStateError) as exc:  # rebalanced meanwhile
                    log.warning("remote write: commit failed (records will be resent): %s", exc)
        finally:
            await consumer.stop()
            await self.sender.close()


def _backoff(first: float, cap: float) -> Any:
    from pipeline.sinks.client import Backoff

    return Backoff(first, cap)
