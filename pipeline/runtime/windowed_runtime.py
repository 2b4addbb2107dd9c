"""The windowed-ingest runtime: what the windows and spans stages share, written once.

A stage gives a ``WindowLogic`` per input partition (pure: decode and fold a record,
close due windows, say how far its windows are closed). The runtime owns the rest:

- replay skip: a record at or below the last offset folded into the partition's logic is
  not folded again (Faust re-delivers what it fetched before the seek that ends a
  rebalance; the closing note of issue 4);
- decode or dead-letter: a record the logic cannot read (``DecodeError``) or fails on
  (any other exception, counted as ``errors`` and logged, rate-limited) goes to the
  dead-letter topic whole, with its reason; parts the logic refuses (late samples) too;
- ack order: every record, good or bad, is acked in offset order once the windows it fed
  are closed and their sends delivered (``Holdback``), so a crash or a rebalance leaves
  the open windows to be rebuilt from the uncommitted records;
- delivery: aggregate sends whose delivery failed are counted and sent again, and acks
  wait for them; a dead letter that cannot be sent holds its record's ack (and, acks
  going in order, every later one of the partition) and is retried each tick;
- revoke: a partition no longer assigned is dropped (its new owner replays);
- progress: every record handled is counted for stall detection.

Faust is not imported here: ``pipeline.runtime.faust_windowed`` drives it from agents and
a timer, and tests drive it in process with plain records.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.holdback import Holdback
from pipeline.runtime.progress import Progress
from schemas.errors import DecodeError
from schemas.records import WindowAggregate

__all__ = [
    "Delivered",
    "Folded",
    "IngestOutputs",
    "Reject",
    "WindowLogic",
    "WindowedIngest",
]

_NEG_INF = float("-inf")


@dataclass(frozen=True, slots=True)
class Delivered:
    """One input record as the runtime sees it; ``handle`` is what ``ack`` takes."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    handle: Any = None


@dataclass(frozen=True, slots=True)
class Reject:
    """A part of a record for the dead-letter topic: ``count`` items (samples, spans)."""

    reason: str
    error: str
    payload: bytes
    count: int = 1


@dataclass(slots=True)
class Folded:
    """What folding one record did: the event time its ack waits for (-inf: none) and
    the parts refused."""

    newest: float
    rejects: list[Reject] = field(default_factory=list)
    #: Items dropped by design but not dead-lettered, by reason (e.g. "future" samples).
    dropped: dict[str, int] = field(default_factory=dict)


class WindowLogic(Protocol):
    """One input partition's windows (pure: no Faust, no I/O)."""

    def fold(self, raw: bytes, now: float) -> Folded:
        """Decode and fold one record; raise DecodeError for one that cannot be read."""
        ...

    def close_due(self, now: float) -> list[WindowAggregate]: ...

    def closed_through(self, now: float) -> float:
        """Every window ending at or before this event time has been closed."""
        ...


class IngestOutputs(Protocol):
    async def dead_letter(self, record: Delivered, reject: Reject) -> None:
        """Send and wait for delivery; raise when it cannot be delivered."""

    async def publish(self, partition: int, aggregates: list[WindowAggregate]) -> list[Any]:
        """Send closed windows; returns the delivery futures."""
        ...

    async def closed(self, topic: str, partition: int, aggregates: list[WindowAggregate],
                     now: float) -> None:  # fmt: skip
        """Hand closed windows to the in-process sinks (alerts)."""

    async def ack(self, handle: Any) -> None: ...


@dataclass
class _Send:
    aggregates: list[WindowAggregate]
    futures: list[Any] | None  # None: the send itself failed, retry


@dataclass
class _Lane:
    logic: WindowLogic
    held: Holdback[Delivered]
    applied: int = -1
    ready: deque[Delivered] = field(default_factory=deque)
    sending: list[_Send] = field(default_factory=list)
    # Dead letters not delivered yet: (record, what is left to send, its held entry, was)
    blocked: list[tuple[Delivered, list[Reject], list[Any], tuple[float, float]]] = field(
        default_factory=list
    )


class WindowedIngest:
    def __init__(
        self,
        open_partition: Callable[[str, int], WindowLogic],
        outputs: IngestOutputs,
        guard: ProcessingGuard,
        progress: Progress,
        *,
        span: float,
        idle_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``span``: the largest window; ``idle_after``: wall-clock seconds after which a
        record of a quiet partition is released anyway (idle close has run by then)."""
        self._open, self._out, self.guard = open_partition, outputs, guard
        self._progress, self._clock = progress, clock
        self._span, self._idle_after = span, idle_after
        self.lanes: dict[tuple[str, int], _Lane] = {}

    def _lane(self, topic: str, partition: int) -> _Lane:
        lane = self.lanes.get((topic, partition))
        if lane is None:
            lane = self.lanes[(topic, partition)] = _Lane(
                self._open(topic, partition), Holdback(self._span, self._idle_after)
            )
        return lane

    # -- records --
    async def handle(self, record: Delivered) -> None:
        now = self._clock()
        lane = self._lane(record.topic, record.partition)
        if record.offset <= lane.applied:  # in the logic's state already
            self.guard.count("replayed")
            lane.held.hold(_NEG_INF, now, record)
        else:
            lane.applied = record.offset
            await self._fold(lane, record, now)
        await self._release(lane, record.partition, now)
        self._progress.record(record.topic, record.partition, record.offset, now)

    async def _fold(self, lane: _Lane, record: Delivered, now: float) -> None:
        try:
            folded = lane.logic.fold(record.value, now)
        except DecodeError as exc:
            self.guard.count("decode")
            self.guard.count("ok")  # handled as designed: dead-lettered
            folded = Folded(_NEG_INF, [Reject(exc.reason, str(exc), record.value)])
        except Exception as exc:  # a bug or a shape nobody foresaw: never skip silently
            self.guard.count("errors")
            self.guard.exception("record %s[%d]@%d failed", record.topic, record.partition,
                                 record.offset)  # fmt: skip
            folded = Folded(_NEG_INF, [Reject("error", repr(exc), record.value)])
        else:
            self.guard.count("ok")
            for reject in folded.rejects:  # parts of a good record (late samples)
                self.guard.count(reject.reason, reject.count)
            for reason, n in folded.dropped.items():
                if n:
                    self.guard.count(reason, n)
        entry = lane.held.hold(folded.newest, now, record)
        unsent = await self._send_letters(record, folded.rejects)
        if unsent:
            lane.blocked.append((record, unsent, entry, lane.held.block(entry)))
        await self._close(lane, record.topic, record.partition, now)

    async def _send_letters(self, record: Delivered, rejects: list[Reject]) -> list[Reject]:
        """Send what the record refused; returns what could not be delivered."""
        unsent = []
        for reject in rejects:
            try:
                await self._out.dead_letter(record, reject)
            except Exception:
                self.guard.count("deadletter_failed")
                self.guard.exception("dead letter of %s[%d]@%d not delivered (ack held)",
                                     record.topic, record.partition, record.offset)  # fmt: skip
                unsent.append(reject)
        return unsent

    # -- closing and acks --
    async def _close(self, lane: _Lane, topic: str, partition: int, now: float) -> None:
        try:
            aggregates = lane.logic.close_due(now)
        except Exception:
            self.guard.count("errors")
            self.guard.exception("closing windows of %s[%d] failed", topic, partition)
            return
        if not aggregates:
            return
        send = _Send(aggregates, None)
        lane.sending.append(send)
        await self._publish(send, partition)
        try:
            await self._out.closed(topic, partition, aggregates, now)
        except Exception:
            self.guard.count("errors")
            self.guard.exception("window sinks failed on %s[%d]", topic, partition)

    async def _publish(self, send: _Send, partition: int) -> None:
        try:
            send.futures = await self._out.publish(partition, send.aggregates)
        except Exception:
            send.futures = None
            self.guard.count("send_failed")
            self.guard.exception("sending %d aggregate(s) failed (acks held, retried)",
                                 len(send.aggregates))  # fmt: skip

    async def _settle_sends(self, lane: _Lane, partition: int) -> None:
        for send in list(lane.sending):
            if send.futures is None:
                await self._publish(send, partition)
                continue
            if not all(f.done() for f in send.futures):
                continue
            if any(f.cancelled() or f.exception() is not None for f in send.futures):
                self.guard.count("send_failed")
                self.guard.warning("%d aggregate(s) not delivered: sent again",
                                   len(send.aggregates))  # fmt: skip
                await self._publish(send, partition)
                continue
            lane.sending.remove(send)

    async def _release(self, lane: _Lane, partition: int, now: float) -> None:
        lane.ready.extend(lane.held.release(lane.logic.closed_through(now), now))
        if lane.sending:
            await self._settle_sends(lane, partition)
        if lane.sending:  # acks wait for the windows they fed to be delivered
            return
        while lane.ready:
            await self._out.ack(lane.ready.popleft().handle)

    # -- timer --
    async def tick(self, assigned: set[tuple[str, int]]) -> None:
        """Every second: drop revoked partitions, retry dead letters, close idle windows,
        release acks."""
        now = self._clock()
        for key in [k for k in self.lanes if k not in assigned]:
            # Revoked: its new owner replays the held records.
            self.lanes.pop(key).held.drop()
            self._progress.forget(*key)
        for (topic, partition), lane in list(self.lanes.items()):
            with self.guard.timer_run():
                await self._retry_letters(lane)
                await self._close(lane, topic, partition, now)
                await self._release(lane, partition, now)

    async def _retry_letters(self, lane: _Lane) -> None:
        still = []
        for record, rejects, entry, was in lane.blocked:
            unsent = await self._send_letters(record, rejects)
            if unsent:
                still.append((record, unsent, entry, was))
            else:
                lane.held.unblock(entry, was)
        lane.blocked = still
