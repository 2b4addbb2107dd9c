"""A fix to faust-streaming 0.15.3: every stream partition is rewound when a rebalance ends.

Faust may take records from a partition before its rebalance is over and throw them
away: a fetch that returns while the partition is paused is dropped (a paused set that
turns empty mid-fetch even drops every partition's records), and records fetched during
the recovery's final seek are queued, then cleared when flow control resumes. It counts
on that seek to rewind to the committed offset. But aiokafka seeks only to a committed
offset above 0, so a partition with no commit yet (a new group, a worker killed before
its first commit) or committed at 0 kept its advanced position and lost those records.
Seen as one vanished batch in the regression stage's SIGKILL test (1 run in 10 under CPU
load).

Here such a partition is sent back to where a new consumer would start, in the same call
as the seek, so it behaves as a committed one does: the records are fetched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["apply", "seek_to_committed_or_start"]


async def seek_to_committed_or_start(
    consumer: AIOKafkaConsumer, rewind: Any, from_earliest: bool
) -> Mapping[Any, int | None]:
    """aiokafka's ``seek_to_committed``, then partitions that ``rewind(tp)`` selects and
    whose committed offset is missing or 0 go to their start (0, or the reset policy's
    end of the log). Returns the committed offsets, as aiokafka's does."""
    committed = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if offset or not rewind(tp):
            continue  # a committed offset > 0: aiokafka has sought it
        if offset == 0:
            consumer.seek(tp, 0)
        elif from_earliest:
            await consumer.seek_to_beginning(tp)
        else:
            await consumer.seek_to_end(tp)
    return committed


async def _seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[Any, int | None]:
    parent: Any = self.consumer
    from_earliest = parent.app.conf.consumer_auto_offset_reset == "earliest"
    # Table changelogs are positioned by each recovery itself.
    return await self.call_thread(
        seek_to_committed_or_start,
        self._ensure_consumer(),
        lambda tp: not parent._is_changelog_tp(tp),
        from_earliest,
    )


def apply() -> None:
    """Install the fix (idempotent)."""
    cast(Any, AIOKafkaConsumerThread).seek_to_committed = _seek_to_committed
