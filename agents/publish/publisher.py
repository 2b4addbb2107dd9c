"""The publisher: a bounded queue in front of Kafka, the disk spool behind it.

``submit`` is the hot path: it never blocks and never raises. One background task sends.
While the spool holds anything, new records are appended to it too, so replay keeps the
order records were collected in. Nothing is dropped until the spool is full; every drop is
counted by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from agents.errors import KafkaUnavailableError, RecordRejectedError
from agents.publish.spool import Spool
from agents.ratelog import RateLimitedLog
from agents.selfmetrics import AgentMetrics

__all__ = ["OutRecord", "Publisher", "Sink"]

log = logging.getLogger("toka.agent.publisher")

_BATCH = 200  # records per send round trip


@dataclass(slots=True, frozen=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes


class Sink(Protocol):
    async def send(self, records: list[OutRecord]) -> int: ...
    async def close(self) -> None: ...


class Publisher:
    def __init__(
        self,
        sink: Sink,
        metrics: AgentMetrics,
        *,
        spool: Spool | None = None,
        queue_size: int = 1000,
        max_record_bytes: int = 1024 * 1024,
        backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._sink = sink
        self._m = metrics
        self._spool = spool
        self._queue: deque[OutRecord] = deque()
        self._inflight: list[OutRecord] = []
        self._queue_size = queue_size
        self._max_bytes = max_record_bytes
        self._backoff = backoff_s
        self._max_backoff = max_backoff_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._log = RateLimitedLog(log)
        self._sync_spool_gauges()

    # -- hot path ---------------------------------------------------------------------------

    def submit(self, record: OutRecord) -> None:
        """Queue one record; spool it when the queue is full or older records wait there."""
        if len(record.value) > self._max_bytes:
            self._drop("too_large")
            return
        if self._spool or len(self._queue) >= self._queue_size:
            # Older queued records go to disk first so the spool keeps collection order.
            # (Records already in flight are older still; they reach the spool after these
            # only if that send then fails: out of order by at most one batch.)
            self._spill_queue()
            self._to_spool([record])
        else:
            self._queue.append(record)
            self._m.queue_depth.set(len(self._queue))
        self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="toka-publisher")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def saturated(self) -> bool:
        """Nearly out of room: 90% of the spool cap (or a full queue without a spool)."""
        if self._spool is None:
            return len(self._queue) >= self._queue_size
        return self._spool.size_bytes >= 0.9 * self._spool.max_bytes

    @property
    def pending(self) -> int:
        spooled = len(self._spool) if self._spool is not None else 0
        return len(self._inflight) + len(self._queue) + spooled

    async def close(self, timeout: float) -> None:
        """Flush for up to ``timeout`` seconds, then spool what is left in memory."""
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._drained(), timeout)
            except TimeoutError:
                log.warning("shutdown: %d records not sent within %.1fs", self.pending, timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:  # cancelled mid-send: maybe sent, so maybe a duplicate; never lost
            self._to_spool(self._inflight)
            self._inflight = []
        self._spill_queue()
        if self._spool is not None:
            self._spool.close()
        await self._sink.close()

    async def _drained(self) -> None:
        while self._queue or self._inflight or (self._spool and self.alive):
            await asyncio.sleep(0.02)

    # -- sending ----------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._backoff
        while True:
            if not self._queue and not self._spool:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if self._spool:
                    await self._send_from_spool()
                else:
                    await self._send_from_queue()
                if self._down:
                    self._down = False
                    log.info("Kafka reachable again; replaying %d spooled records", self.pending)
                delay = self._backoff
                self._m.broker_up.set(1)
            except KafkaUnavailableError as exc:
                self._down = True
                self._m.broker_up.set(0)
                self._log.log(logging.WARNING, "send", "Kafka unavailable, spooling: %s", exc)
                # Everything waiting in memory goes to disk: it survives a restart there.
                self._spill_queue()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
            except Exception as exc:  # noqa: BLE001 - a bug or a disk error must not end sending
                if self._inflight:
                    self._to_spool(self._inflight)
                    self._inflight = []
                self._m.publisher_errors.inc()
                self._log.log(logging.ERROR, "bug", "publisher error, retrying: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)

    async def _send_from_queue(self) -> None:
        batch = self._inflight = [
            self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))
        ]
        self._m.queue_depth.set(len(self._queue))
        t0 = time.perf_counter()
        try:
            acked = await self._sink.send(batch)
        except KafkaUnavailableError as exc:
            self._inflight = []
            self._count_sent(batch[: exc.acked])
            self._to_spool(batch[exc.acked :])  # before the queue: they are older
            raise
        except RecordRejectedError as exc:
            self._inflight = []
            self._count_sent(batch[: exc.acked])
            self._drop("rejected_by_kafka")
            self._queue.extendleft(reversed(batch[exc.acked + 1 :]))  # again, in order
            return
        finally:
            self._m.send_latency.observe(time.perf_counter() - t0)
        self._inflight = []
        self._count_sent(batch[:acked])

    def _count_sent(self, sent: list[OutRecord]) -> None:
        for r in sent:
            self._m.sent.labels(r.topic).inc()

    async def _send_from_spool(self) -> None:
        assert self._spool is not None
        rows = self._spool.peek(_BATCH)
        if not rows:
            self._sync_spool_gauges()
            return
        batch = [OutRecord(t, k, v) for t, k, v in rows]
        t0 = time.perf_counter()
        try:
            acked = await self._sink.send(batch)
        except KafkaUnavailableError as exc:
            self._commit_spool(batch[: exc.acked])
            raise
        except RecordRejectedError as exc:
            # The refused record is consumed with those before it: dropped and counted.
            self._commit_spool(batch[: exc.acked], consumed=exc.acked + 1)
            self._drop("rejected_by_kafka")
            return
        finally:
            self._m.send_latency.observe(time.perf_counter() - t0)
        self._commit_spool(batch[:acked])

    def _commit_spool(self, sent: list[OutRecord], consumed: int | None = None) -> None:
        assert self._spool is not None
        self._spool.commit(len(sent) if consumed is None else consumed)
        self._count_sent(sent)
        self._m.replayed.inc(len(sent))
        self._sync_spool_gauges()

    # -- spool and drops --------------------------------------------------------------------

    def _spill_queue(self) -> None:
        if self._queue:
            left = list(self._queue)
            self._queue.clear()
            self._to_spool(left)

    def _to_spool(self, records: list[OutRecord]) -> None:
        if self._spool is None:
            for _ in records:
                self._drop("queue_full")
            return
        for r in records:
            before = self._spool.dropped
            try:
                outcome = self._spool.append(r.topic, r.key, r.value)
            except OSError as exc:  # disk full, directory gone: count, never raise upwards
                self._drop("spool_error")
                self._log.log(logging.ERROR, "spool_error", "cannot write the spool: %s", exc)
                continue
            if outcome == "refused":
                self._drop("spool_full_newest")
            else:
                self._m.spooled.inc()
            if outcome == "dropped_oldest":
                self._drop("spool_full_oldest", self._spool.dropped - before)
        self._sync_spool_gauges()
        self._m.queue_depth.set(len(self._queue))

    def _drop(self, reason: str, n: int = 1) -> None:
        self._m.dropped.labels(reason).inc(n)
        self._log.log(logging.WARNING, f"drop:{reason}", "dropping records: %s", reason)

    def _sync_spool_gauges(self) -> None:
        if self._spool is not None:
            self._m.spool_bytes.set(self._spool.size_bytes)
            self._m.spool_records.set(self._spool.records)
