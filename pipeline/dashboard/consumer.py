"""The output topics -> the history store, with no gap and no duplicate across restarts.

Each replica is a consumer group of its own (``<app_id>-dashboard-<replica>``), so every
replica reads every partition. Where to start is the history's business, not the group's:
on assignment each partition is sought to the offset stored with the rows (none stored: the
earliest offset, which is how a new or rebuilt history fills itself from Kafka). Offsets are
also committed to the group afterwards, so lag tools see the replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaConnectionError

from pipeline.dashboard.ingest import FINDING_KINDS, IngestBatch
from pipeline.dashboard.store import HistoryStore
from schemas.config import TokaConfig

__all__ = ["TOPIC_KINDS", "HistoryConsumer", "group_id"]

log = logging.getLogger(__name__)

#: The output topics the dashboard reads, by kind.
TOPIC_KINDS = ("aggregates", "alerts", *FINDING_KINDS)
_PRUNE_EVERY = 60.0
_COMPACT_EVERY = 15.0
_RETRY_SECONDS = 5.0
#: Records decoded while an append runs, at most, before waiting for it (bounds memory).
_MAX_WAITING = 100_000


def group_id(cfg: TokaConfig) -> str:
    replica = cfg.dashboard.replica or socket.gethostname()
    return f"{cfg.pipeline.app_id}-dashboard-{replica}"


class _SeekToHistory(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer, store: HistoryStore,
                 writing: asyncio.Lock) -> None:  # fmt: skip
        self._consumer, self._store, self._writing = consumer, store, writing

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # A rebalance can come while a batch is being written: read the offsets after it.
        async with self._writing:
            stored = await asyncio.to_thread(self._store.offsets)
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)


class HistoryConsumer:
    """Reads the output topics into ``store`` until ``stop()``."""

    def __init__(self, cfg: TokaConfig, store: HistoryStore, max_records: int = 20_000) -> None:
        self._cfg, self._store, self._max_records = cfg, store, max_records
        self._kinds = {cfg.kafka.topic(kind): kind for kind in TOPIC_KINDS}
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.records = 0
        self._writing = asyncio.Lock()
        #: The next offset of every partition, as far as decoded: a record below it came
        #: again (a rebalance's seek can land before what is already stored or on its way).
        self._next: dict[tuple[str, int], int] = {}
        self.skipped_again = 0

    def stop(self) -> None:
        self._stop.set()

    async def _connect(self) -> AIOKafkaConsumer | None:
        """A started consumer; while Kafka is unreachable the stored history is still
        served, and the connection is retried every few seconds (None: stopped first)."""
        while not self._stop.is_set():
            consumer = AIOKafkaConsumer(
                group_id=group_id(self._cfg), enable_auto_commit=False,
                auto_offset_reset="earliest", **self._cfg.kafka.client_options(),
            )  # fmt: skip
            try:
                await consumer.start()
                return consumer
            except KafkaConnectionError as exc:
                log.warning("history: Kafka unreachable (%s); serving the stored history, "
                            "retrying in %.0f s", exc, _RETRY_SECONDS)  # fmt: skip
                await consumer.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), _RETRY_SECONDS)
        return None

    async def run(self) -> None:
        self._next = await asyncio.to_thread(self._store.offsets)
        consumer = await self._connect()
        if consumer is None:
            return
        seek = _SeekToHistory(consumer, self._store, self._writing)
        consumer.subscribe(list(self._kinds), listener=seek)
        last_prune = last_compact = time.monotonic()
        appending: asyncio.Task[None] | None = None
        waiting: IngestBatch | None = None  # decoded, not yet handed to the store
        try:
            while not self._stop.is_set():
                polled = await consumer.getmany(timeout_ms=100 if waiting else 500,
                                                max_records=self._max_records)  # fmt: skip
                if consumer.assignment():
                    self.ready.set()
                if appending is not None and appending.done():
                    appending.result()  # a failed append stops the consumer, loudly
                if polled:
                    waiting = self._decode(polled, waiting)
                # One append at a time, in order; while one runs (DuckDB works off the GIL)
                # the next polls are decoded into one bigger batch, so the store's cost per
                # append is paid for more rows the busier it is. The append holds the lock
                # from here: a rebalance reads the stored offsets only once it committed.
                if (
                    waiting is not None
                    and waiting.records
                    and (not self._writing.locked() or waiting.records >= _MAX_WAITING)
                ):
                    await self._writing.acquire()
                    appending = asyncio.create_task(self._append(consumer, waiting))
                    waiting = None
                if time.monotonic() - last_compact > _COMPACT_EVERY:
                    last_compact = time.monotonic()
                    async with self._writing:
                        await asyncio.to_thread(self._store.compact)
                if time.monotonic() - last_prune > _PRUNE_EVERY:
                    last_prune = last_compact = time.monotonic()
                    async with self._writing:
                        await asyncio.to_thread(self._store.prune)
            if waiting is not None and waiting.records:  # stopping: store what was read
                await self._writing.acquire()
                appending = asyncio.create_task(self._append(consumer, waiting))
        finally:
            if appending is not None:
                await asyncio.gather(appending, return_exceptions=True)
            await consumer.stop()
        if appending is not None:
            appending.result()

    def _decode(self, polled: dict[Any, list[Any]], into: IngestBatch | None = None) -> IngestBatch:
        batch = into if into is not None else IngestBatch()
        for tp, records in polled.items():
            kind, key = self._kinds[tp.topic], (tp.topic, tp.partition)
            start = self._next.get(key, 0)
            for rec in records:
                if rec.offset < start:
                    self.skipped_again += 1
                    continue
                batch.add(kind, tp.topic, tp.partition, rec.offset, ts=rec.timestamp / 1000.0,
                          value=rec.value)  # fmt: skip
                batch.records += 1
            if records:
                self._next[key] = max(start, records[-1].offset + 1)
        return batch

    async def _append(self, consumer: AIOKafkaConsumer, batch: IngestBatch) -> None:
        """Runs with the write lock held (taken by the caller); releases it when stored."""
        try:
            await asyncio.to_thread(self._store.append, batch)
        finally:
            self._writing.release()
        self.records += batch.records
        if batch.bad:
            log.warning("history: skipped undecodable records %s", dict(batch.bad))
        try:  # informational only: the history's own offsets decide where a restart starts
            await consumer.commit({TopicPartition(t, p): o for (t, p), o in batch.offsets.items()})
        except Exception as exc:  # a rebalance in between: the next commit catches up
            log.debug("group commit skipped: %s", exc)
