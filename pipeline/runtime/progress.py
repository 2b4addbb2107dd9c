"""Progress of every input partition, counted in records processed (pure: no Faust).

A partition is stalled when records of it were fetched (Faust's consumer read them into
the stream) but the stage has processed none of them for ``stall_seconds``: a stage stuck
in an await, an agent that lost records it was handed, a poison record looping. Committed
offsets cannot tell: held acks keep them back on purpose, and the embedded broker reports
end offsets short. ``/healthz`` fails while any partition is stalled, and each new stall
is counted per partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Progress", "Stall"]

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Stall:
    topic: str
    partition: int
    waiting_since: float
    fetched: int  # the newest offset fetched
    processed: int | None  # the newest offset processed (None: none yet)

    def describe(self, now: float) -> str:
        done = "none" if self.processed is None else f"up to offset {self.processed}"
        return (
            f"partition {self.topic}[{self.partition}]: records fetched up to offset "
            f"{self.fetched}, processed {done}, no progress for {now - self.waiting_since:.0f}s"
        )


@dataclass
class Progress:
    stall_seconds: float = 60.0
    #: The input topics the runtimes count progress for (``watch``); others are ignored
    #: (a table's changelog, a topic a stage outside the runtimes reads).
    topics: set[str] = field(default_factory=set)
    processed: Counter[TopicPartition] = field(default_factory=Counter)
    stalls: Counter[TopicPartition] = field(default_factory=Counter)
    _offset: dict[TopicPartition, int] = field(default_factory=dict)
    _at: dict[TopicPartition, float] = field(default_factory=dict)
    _waiting: dict[TopicPartition, float] = field(default_factory=dict)
    _stalled: set[TopicPartition] = field(default_factory=set)

    def watch(self, *topics: str) -> None:
        self.topics.update(topics)

    def record(self, topic: str, partition: int, offset: int, now: float) -> None:
        """The stage is done with the record at ``offset`` (whatever became of it)."""
        tp = (topic, partition)
        self.processed[tp] += 1
        if offset > self._offset.get(tp, -1):
            self._offset[tp] = offset
        self._at[tp] = now

    def forget(self, topic: str, partition: int) -> None:
        """The partition moved to another worker."""
        tp = (topic, partition)
        self._offset.pop(tp, None)
        self._at.pop(tp, None)
        self._waiting.pop(tp, None)
        self._stalled.discard(tp)

    def stalled(self, fetched: Mapping[TopicPartition, int], now: float) -> list[Stall]:
        """Partitions of ``fetched`` (newest offset read per partition, of the topics this
        progress covers) with records waiting and none processed for ``stall_seconds``."""
        out = []
        for tp, newest in sorted(fetched.items()):
            if tp[0] not in self.topics:
                continue
            done = self._offset.get(tp)
            if done is not None and newest <= done:
                self._waiting.pop(tp, None)  # nothing waiting
                self._stalled.discard(tp)
                continue
            # Stalled since the later of: the last record processed, the first check that
            # saw records waiting (a record fetched after a quiet hour is not a stall).
            since = max(self._waiting.setdefault(tp, now), self._at.get(tp, float("-inf")))
            if now - since < self.stall_seconds:
                continue
            if tp not in self._stalled:
                self._stalled.add(tp)
                self.stalls[tp] += 1
            out.append(Stall(tp[0], tp[1], since, newest, done))
        return out
