"""The windowed-ingest runtime: what the windows and spans stages share, written once.

A stage gives a ``WindowLogic`` per input partition (pure: decode and fold a record,
close due windows, say how far its windows are closed). The runtime owns the rest:

- replay skip: a record whose offset was folded into the partition's logic already is not
  folded again (Faust re-delivers what it fetched before the seek that ends a rebalance,
  and what it dropped then: offsets.py);
- decode or dead-letter: a record the logic cannot read (``DecodeError``) or fails on
  (any other exception, counted as ``errors`` and logged, rate-limited) goes to the
  dead-letter topic whole, with its reason; parts the logic refuses (late samples) too;
- ack order: every record, good or bad, is acked in offset order once the windows it fed
  are closed and their sends delivered (``Holdback``), so a crash or a rebalance leaves
  the open windows to be rebuilt from the uncommitted records;
- delivery: every send (closed windows, dead letters) is tracked until Kafka confirms it; a
  send that fails is counted and made again, and a record is acked only once every send
  made up to its release is delivered (so a dead letter that cannot be sent holds its
  record's ack, and acks going in order, every later one of the partition); nothing waits
  for a delivery inline, so a flood of late records costs no round trip each;
- revoke: a partition no longer assigned is dropped (its new owner replays);
- progress: every record handled is counted for stall detection.

Faust is not imported here: ``pipeline.runtime.faust_windowed`` drives it from agents and
a timer, and tests drive it in process with plain records.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.holdback import Holdback
from pipeline.runtime.offsets import FoldedOffsets
from pipeline.runtime.progress import Progress
from schemas.errors import DecodeError
from schemas.records import WindowAggregate

__all__ = [
    "Delivered",
    "Folded",
    "IngestOutputs",
    "Output",
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


@dataclass(frozen=True, slots=True)
class Output:
    """A record a stage derives from its input, for ``target`` (a topic of the outputs)."""

    target: Any
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class Folded:
    """What folding one record did: the event time its ack waits for (-inf: none), the
    parts refused, and records to send on (its ack also waits for their delivery)."""

    newest: float
    rejects: list[Reject] = field(default_factory=list)
    #: Items dropped by design but not dead-lettered, by reason (e.g. "future" samples).
    dropped: dict[str, int] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)


class WindowLogic(Protocol):
    """One input partition's windows (pure: no Faust, no I/O)."""

    def fold(self, record: Delivered, now: float) -> Folded:
        """Decode and fold one record; raise DecodeError for one that cannot be read."""
        ...

    def close_due(self, now: float) -> list[WindowAggregate]: ...

    def closed_through(self, now: float) -> float:
        """Every window ending at or before this event time has been closed."""
        ...


class IngestOutputs(Protocol):
    async def dead_letter(self, record: Delivered, reject: Reject) -> list[Any]:
        """Send ``reject`` to the dead-letter topic; returns the delivery futures."""
        ...

    async def publish(self, partition: int, aggregates: list[WindowAggregate]) -> list[Any]:
        """Send closed windows; returns the delivery futures."""
        ...

    async def send(self, output: Output) -> list[Any]:
        """Send a derived record; returns the delivery futures."""
        ...

    async def closed(self, topic: str, partition: int, aggregates: list[WindowAggregate],
                     now: float) -> None:  # fmt: skip
        """Hand closed windows to the in-process sinks (alerts)."""

    async def ack(self, handle: Any) -> None: ...


@dataclass
class _Send:
    seq: int  # order of the send in its lane
    what: str  # for the log
    failed: str  # what a failure counts as
    make: Callable[[], Awaitable[list[Any]]]  # (re)sends; returns the delivery futures
    futures: list[Any] | None = None  # None: the send itself failed, make it again


@dataclass
class _Lane:
    logic: WindowLogic
    held: Holdback[Delivered]
    folded: FoldedOffsets = field(default_factory=FoldedOffsets)
    # Released records, with the seq of the last send made when they were released: each
    # is acked once no send up to that one is pending.
    ready: deque[tuple[int, Delivered]] = field(default_factory=deque)
    sending: list[_Send] = field(default_factory=list)
    seq: int = 0


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
        if record.offset in lane.folded:  # in the logic's state already
            self.guard.count("replayed")
            lane.held.hold(_NEG_INF, now, record)
        else:
            lane.folded.add(record.offset)
            await self._fold(lane, record, now)
        await self._release(lane, record.partition, now)
        self._progress.record(record.topic, record.partition, record.offset, now)

    async def _fold(self, lane: _Lane, record: Delivered, now: float) -> None:
        try:
            folded = lane.logic.fold(record, now)
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
        lane.held.hold(folded.newest, now, record)
        for output in folded.outputs:
            await self._send(lane, f"a record derived from {record.topic}[{record.partition}]@"
                             f"{record.offset}", "send_failed", self._output(output))  # fmt: skip
        for reject in folded.rejects:
            what = f"dead letter of {record.topic}[{record.partition}]@{record.offset}"
            await self._send(lane, what, "deadletter_failed", self._letter(record, reject))
        await self._close(lane, record.topic, record.partition, now)

    def _letter(self, record: Delivered, reject: Reject) -> Callable[[], Awaitable[list[Any]]]:
        return lambda: self._out.dead_letter(record, reject)

    def _output(self, output: Output) -> Callable[[], Awaitable[list[Any]]]:
        return lambda: self._out.send(output)

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

        def publish() -> Awaitable[list[Any]]:
            return self._out.publish(partition, aggregates)

        await self._send(lane, f"{len(aggregates)} aggregate(s)", "send_failed", publish)
        try:
            await self._out.closed(topic, partition, aggregates, now)
        except Exception:
            self.guard.count("errors")
            self.guard.exception("window sinks failed on %s[%d]", topic, partition)

    async def _send(
        self, lane: _Lane, what: str, failed: str, make: Callable[[], Awaitable[list[Any]]]
    ) -> None:
        lane.seq += 1
        send = _Send(lane.seq, what, failed, make)
        lane.sending.append(send)
        await self._start(send)

    async def _start(self, send: _Send) -> None:
        try:
            send.futures = await send.make()
        except Exception:
            send.futures = None
            self.guard.count(send.failed)
            self.guard.exception("sending %s failed (acks held, sent again)", send.what)

    async def _settle_sends(self, lane: _Lane) -> None:
        for send in list(lane.sending):
            if send.futures is None:
                await self._start(send)
                continue
            if not all(f.done() for f in send.futures):
                continue
            if any(f.cancelled() or f.exception() is not None for f in send.futures):
                self.guard.count(send.failed)
                self.guard.warning("%s not delivered: sent again (acks held)", send.what)
                await self._start(send)
                continue
            lane.sending.remove(send)

    async def _release(self, lane: _Lane, partition: int, now: float) -> None:
        seq = lane.seq
        for record in lane.held.release(lane.logic.closed_through(now), now):
            lane.ready.append((seq, record))
        if lane.sending:
            await self._settle_sends(lane)
        # A record waits for every send made up to its release: the windows it fed, its
        # own dead letters (sends stay in seq order: the first pending one is the oldest).
        pending = lane.sending[0].seq if lane.sending else float("inf")
        while lane.ready and lane.ready[0][0] < pending:
            await self._out.ack(lane.ready.popleft()[1].handle)

    # -- timer --
    async def tick(self, assigned: set[tuple[str, int]]) -> None:
        """Every second: drop revoked partitions, close idle windows, resend what failed,
        release acks."""
        now = self._clock()
        for key in [k for k in self.lanes if k not in assigned]:
            # Revoked: its new owner replays the held records.
            self.lanes.pop(key).held.drop()
            self._progress.forget(*key)
        for (topic, partition), lane in list(self.lanes.items()):
            with self.guard.timer_run():
                await self._close(lane, topic, partition, now)
                await self._release(lane, partition, now)
