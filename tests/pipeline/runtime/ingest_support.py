"""Drive WindowedIngest in process: plain records in, and a fake of the outputs that keeps
the real semantics (a dead letter is delivered or raises; a publish returns delivery
futures that complete later, or fail; acks are recorded in the order made)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.runtime.windowed_runtime import (
    Delivered,
    Output,
    Reject,
    WindowedIngest,
    WindowLogic,
)
from schemas import DeadLetter, decode
from schemas.records import WindowAggregate


class Outputs:
    def __init__(self) -> None:
        self.letters: list[tuple[Delivered, Reject]] = []
        self.published: list[WindowAggregate] = []
        self.sunk: list[WindowAggregate] = []
        self.acked: list[int] = []
        self.fail_letters = 0  # this many dead-letter sends fail
        self.fail_deliveries = 0  # this many publishes' deliveries fail
        self.pending: list[asyncio.Future[Any]] = []  # deliveries not completed yet
        self.hold_deliveries = False
        self.sent: list[Output] = []

    async def dead_letter(self, record: Delivered, reject: Reject) -> list[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail_letters:
            self.fail_letters -= 1
            fut.set_exception(ConnectionError("broker unreachable"))
        else:
            self.letters.append((record, reject))
            fut.set_result(None)
        return [fut]

    async def publish(self, partition: int, aggregates: list[WindowAggregate]) -> list[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail_deliveries:
            self.fail_deliveries -= 1
            fut.set_exception(ConnectionError("not delivered"))
        elif self.hold_deliveries:
            self.pending.append(fut)
        else:
            fut.set_result(None)
            self.published.extend(aggregates)
        return [fut]

    async def send(self, output: Output) -> list[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(output)
        fut.set_result(None)
        return [fut]

    def deliver(self) -> None:
        for fut in self.pending:
            fut.set_result(None)
        self.pending.clear()

    async def closed(self, topic: str, partition: int, aggs: list[WindowAggregate],
                     now: float) -> None:  # fmt: skip
        self.sunk.extend(aggs)

    async def ack(self, handle: Any) -> None:
        self.acked.append(handle)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_ingest(
    open_partition: Callable[[str, int], WindowLogic], now: float, span: float = 10.0,
    idle_after: float = 18.0,  # span + grace + idle close + 2, as run_windowed sets it
) -> tuple[WindowedIngest, Outputs, ProcessingGuard, Progress, Clock]:  # fmt: skip
    out, guard, progress, clock = Outputs(), ProcessingGuard("test"), Progress(30.0), Clock(now)
    ingest = WindowedIngest(
        open_partition, out, guard, progress, span=span, idle_after=idle_after, clock=clock
    )
    return ingest, out, guard, progress, clock


def record(offset: int, value: bytes, topic: str = "t.metrics", partition: int = 0) -> Delivered:
    """A record whose ack handle is its offset."""
    return Delivered(topic, partition, offset, value, b"k", offset)


# -- the analytics loop --

BATCHES = "t.aggregate-batches"


@dataclass(frozen=True)
class Msg:
    offset: int
    topic: str = BATCHES
    partition: int = 0
    key: bytes | None = None
    timestamp: float = 1.0


class Topic:
    """Faust's topic semantics: ``send`` returns a delivery future."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[DeadLetter] = []
        self.failures = failures

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failures:
            self.failures -= 1
            fut.set_exception(ConnectionError("broker unreachable"))
        else:
            self.sent.append(decode(value, DeadLetter))
            fut.set_result(None)
        return fut
