"""Faust tables whose keys name their partition, so timers can write to them too.

A stock Faust table takes the changelog partition from the current stream event, so only
code inside a stream iteration may write. Alert transitions also happen in timers (idle
window close, absence, keep_firing_for), so keys here are ``"<partition>|<key>"`` and the
partition is read back from the key: the state of a series stays on the partition of the
metrics that feed it, and moves with it on a rebalance.

``WriteBehind`` keeps the analytics stages' states live in memory over such a table and
writes them back in bulk, with the input position they include.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, cast

import faust

from pipeline.runtime.offsets import FoldedOffsets
from pipeline.runtime.state import dump, load, restore_with

__all__ = [
    "POSITIONS_TABLE",
    "PartitionView",
    "PartitionedTable",
    "WriteBehind",
    "make_durable",
    "partitioned_table",
    "positions_table",
]

#: Keys ending with this are bookkeeping, invisible through PartitionView.
_FENCE = "~fence"


class PartitionedTable(faust.Table):
    def partition_for_key(self, key: Any) -> int | None:
        text = key.decode() if isinstance(key, bytes) else str(key)
        return int(text.split("|", 1)[0])


def partitioned_table(app: faust.App, name: str, partitions: int) -> PartitionedTable:
    """A JSON-valued PartitionedTable registered on ``app``."""
    table = PartitionedTable(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=partitions,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
    )
    return cast(PartitionedTable, app.tables.add(table))  # add() returns the table it is given


class PartitionView(MutableMapping[str, Any]):
    """The keys of one partition, as a plain mapping (what the pure cores take)."""

    def __init__(self, table: MutableMapping[Any, Any], partition: int) -> None:
        self._table = table
        self._prefix = f"{partition}|"

    def _key(self, key: str) -> str:
        return self._prefix + key

    def __getitem__(self, key: str) -> Any:
        k = self._key(key)
        if k not in self._table:
            raise KeyError(key)
        return self._table[k]

    # get and `in` without the KeyError round trip of MutableMapping's: most lookups miss
    # (an aggregate no alert has state for).
    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._key(key) in self._table

    def get(self, key: str, default: Any = None) -> Any:
        k = self._key(key)
        return self._table[k] if k in self._table else default  # noqa: SIM401 (Faust .get raises inside)

    def __setitem__(self, key: str, value: Any) -> None:
        self._table[self._key(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._table[self._key(key)]

    def __iter__(self) -> Iterator[str]:
        prefix = self._prefix
        for k in list(self._table.keys()):
            if k.startswith(prefix) and not k.endswith(_FENCE):
                yield k[len(prefix) :]

    def __len__(self) -> int:
        return sum(1 for _ in self)


async def make_durable(app: faust.App, table: PartitionedTable, partitions: Iterable[int]) -> None:
    """Return once every table write so far is in Kafka and a restart will recover it.

    The flush delivers the writes. The fence, one record in a batch of its own, works around
    the embedded Tansu broker reporting a partition's end offset as its last batch's base
    offset + 1 (checked with tansu 0.6.0-510f3e2): Faust's recovery reads only up to that
    offset, so the last writes of a multi-record batch would be skipped. On Apache Kafka
    the fence is one small extra record.
    """
    await app.producer.flush()
    now = time.time()
    for partition in partitions:
        table[f"{partition}|{_FENCE}"] = now
    await app.producer.flush()


#: Per-partition position of each analytics stage: the input batches its table state
#: includes (see WriteBehind). One shared table; keys ``"<partition>|<stage>"``.
POSITIONS_TABLE = "toka-analytics-positions"


class _Position:
    """The offsets of one partition's batches in the state (ranges: a batch Faust dropped
    around a rebalance comes back below later ones, pipeline.runtime.offsets) and the
    newest batch timestamp among them. Version 1 was ``[offset, ts]``: every offset up to
    ``offset``."""

    STATE_VERSION = 2

    def __init__(self, folded: FoldedOffsets, ts: float) -> None:
        self.folded, self.ts = folded, ts

    @staticmethod
    def upgrade(data: Any, version: int) -> dict[str, Any]:
        offset, ts = data  # version 1
        return {"ranges": [[0, int(offset)]], "ts": ts}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> _Position:
        return cls(FoldedOffsets.from_ranges(data["ranges"]), float(data["ts"]))

    def snapshot(self) -> dict[str, Any]:
        return {"ranges": [[start, end] for start, end in self.folded.ranges], "ts": self.ts}


_ABSENT = object()


def positions_table(app: faust.App, partitions: int) -> PartitionedTable:
    """The shared positions table, registered by whichever stage asks first."""
    try:
        return app.tables[POSITIONS_TABLE]  # type: ignore[return-value]
    except KeyError:
        return partitioned_table(app, POSITIONS_TABLE, partitions)


class WriteBehind:
    """A stage's live state objects over its PartitionedTable, written back in bulk.

    A state is restored from the table once and then mutated in memory; ``flush`` writes
    each dirty key once (its ``snapshot()``, or a copy of a plain value), so a key touched
    by many aggregates costs one changelog record per flush instead of one per aggregate.

    With the state, ``flush`` records the offsets of the input batches applied on each
    partition (``applied``; as ranges, usually one) and the newest one's timestamp in the
    positions table; a batch among them is already in the state and ``replayed`` says to
    skip it. Records are acked only
    by ``settle`` (a flush every ``flush_seconds``, delivered, then the acks), so Kafka
    commits no offset past what the table holds. A killed worker therefore loses nothing:
    its successor replays the uncommitted records and skips those already in the state,
    applying each batch exactly once; a stage that flushes before sending a finding never
    sends it twice. The price of a longer interval is replay work after a crash and a
    table that trails the live state, not lost history.
    """

    def __init__(
        self,
        table: MutableMapping[Any, Any],
        positions: MutableMapping[Any, Any],
        stage: str,
        flush_seconds: float,
        clock: Any = time.monotonic,
    ) -> None:
        self._table = table
        self._positions = positions
        self._stage = stage
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._live: dict[int, dict[str, Any]] = {}  # None: no state (deleted or never set)
        self._dirty: dict[int, set[str]] = {}
        self._applied: dict[int, _Position | None] = {}
        self._moved: set[int] = set()
        self._owned: set[int] | None = None  # None: not attached to a consumer
        self._held: list[tuple[Any, Any]] = []  # (stream, event), acked by settle()
        self._epoch = 0  # bumped by forget(): acks from before a rebalance are void
        self._settled_at = clock()
        # Wall-clock time each key was last used (set by the caller per record: ``now``).
        self.now = 0.0
        self._used: dict[int, dict[str, float]] = {}

    def get(self, partition: int, key: str, restore: Any = None) -> Any:
        """The live state of ``key`` (restored from the table on first use), or None."""
        live = self._live.setdefault(partition, {})
        obj = live.get(key, _ABSENT)
        if obj is _ABSENT:
            raw = self._table.get(f"{partition}|{key}")
            obj = raw if raw is None or restore is None else restore_with(restore, raw)
            live[key] = obj
        return obj

    def use(self, partition: int, key: str, restore: Any, new: Any) -> Any:
        """The live state of ``key``, created with ``new()`` if it has none, marked dirty
        (the caller is about to change it)."""
        obj = self.get(partition, key, restore)
        if obj is None:
            obj = new()
            self._live[partition][key] = obj
        self._dirty.setdefault(partition, set()).add(key)
        self._used.setdefault(partition, {})[key] = self.now
        return obj

    def evict_idle(self, partition: int, prefixes: tuple[str, ...], idle: float) -> int:
        """Drop the state of keys starting with ``prefixes`` unused for ``idle`` seconds of
        ``now``; returns how many. A key only in the table (a restart) starts its clock at
        the first scan that sees it."""
        used = self._used.setdefault(partition, {})
        n = 0
        for key in self.keys(partition):
            if not key.startswith(prefixes):
                continue
            last = used.get(key)
            if last is None:
                used[key] = self.now
            elif self.now - last >= idle:
                self.put(partition, key, None)
                del used[key]
                n += 1
        return n

    def put(self, partition: int, key: str, obj: Any) -> None:
        """Set (or, with None, delete) the state of ``key``; written at the next flush."""
        self._live.setdefault(partition, {})[key] = obj
        self._dirty.setdefault(partition, set()).add(key)

    def touch(self, partition: int, key: str) -> None:
        """``key``'s live object was mutated: write it at the next flush."""
        self._dirty.setdefault(partition, set()).add(key)

    def keys(self, partition: int) -> list[str]:
        """Every key with a state on ``partition``, in memory or only in the table."""
        live = self._live.get(partition, {})
        found = set(PartitionView(self._table, partition)) | set(live)
        return sorted(k for k in found if live.get(k, _ABSENT) is not None)

    def replayed(self, partition: int, offset: int, ts: float) -> bool:
        """True when the batch at ``offset`` is already in the state (a replay after a
        crash). The timestamp guards against a recreated topic whose offsets restart."""
        pos = self._position(partition)
        return pos is not None and offset in pos.folded and ts <= pos.ts

    def applied(self, partition: int, offset: int, ts: float) -> None:
        """The batch at ``offset`` is now in the (live) state."""
        pos = self._position(partition)
        if pos is None or (offset in pos.folded and ts > pos.ts):  # new, or a recreated topic
            self._applied[partition] = _Position(FoldedOffsets.from_ranges([(offset, offset)]), ts)
        else:
            pos.folded.add(offset)
            pos.ts = max(pos.ts, ts)
        self._moved.add(partition)

    def _position(self, partition: int) -> _Position | None:
        if partition not in self._applied:
            raw = self._positions.get(f"{partition}|{self._stage}")
            self._applied[partition] = None if raw is None else load(_Position, raw)
        return self._applied[partition]

    def hold(self, stream: Any, event: Any) -> None:
        """Ack ``event`` (of a manual-ack stream) once its effect is in the table."""
        self._held.append((stream, event))

    def due(self) -> bool:
        return self._clock() - self._settled_at >= self.flush_seconds

    async def settle(self, producer: Any) -> None:
        """Flush, wait until the writes are delivered, then ack the records they cover
        (in arrival order: Faust commits up to the first record not acked)."""
        self._settled_at = self._clock()
        self.flush()
        held, self._held, epoch = self._held, [], self._epoch
        await producer.flush()
        for stream, event in held:
            if self._epoch != epoch:  # revoked meanwhile: the next owner replays them
                return
            await stream.ack(event)

    def flush(self) -> int:
        """Write every dirty key, then the positions; returns the number of keys written.
        Synchronous, so no batch is half applied in what it writes."""
        n = 0
        for partition, keys in self._dirty.items():
            live = self._live.get(partition, {})
            for key in keys:
                obj = live.get(key)
                name = f"{partition}|{key}"
                if obj is None:
                    self._table.pop(name, None)
                    live.pop(key, None)  # no tombstone kept in memory
                    self._used.get(partition, {}).pop(key, None)
                else:
                    self._table[name] = _snapshot(obj)
                n += 1
        for partition in self._moved:
            pos = self._applied[partition]
            if pos is not None:
                self._positions[f"{partition}|{self._stage}"] = dump(pos)
        self._dirty.clear()
        self._moved.clear()
        return n

    def forget(self) -> None:
        """Drop every live object and held record (after a flush, when partitions move):
        the next owner's writes land in the table, so ours would be stale, and it replays
        the records not acked (skipping those the flush covered)."""
        self._live.clear()
        self._used.clear()
        self._applied.clear()
        self._held.clear()
        self._epoch += 1

    def owns(self, partition: int) -> bool:
        """False for a partition revoked while a record of it was in flight."""
        return self._owned is None or partition in self._owned

    def attach(self, app: faust.App, topic: str) -> None:
        """Settle every ``flush_seconds``; follow ``topic``'s assignment: flush and forget
        on every rebalance and on shutdown."""

        async def on_revoked(_app: Any, _revoked: Any = None, **_: Any) -> None:
            self.flush()
            self.forget()
            self._owned = set()
            await app.producer.flush()  # delivered before the new owner recovers

        async def on_assigned(_app: Any, assigned: Any, **_: Any) -> None:
            self._owned = {tp.partition for tp in assigned if tp.topic == topic}

        async def settle_when_due() -> None:
            if self.due():
                await self.settle(app.producer)

        # mode's signal types want a ``signal`` parameter; **_ takes it
        app.on_partitions_revoked.connect(cast(Any, on_revoked), weak=False)
        app.on_partitions_assigned.connect(cast(Any, on_assigned), weak=False)
        app.on_before_shutdown.connect(cast(Any, on_revoked), weak=False)
        # Never mid-batch: stages apply a batch without awaiting in between.
        app.timer(interval=min(1.0, self.flush_seconds), name=f"toka-{self._stage}-flush")(
            settle_when_due
        )


def _snapshot(obj: Any) -> Any:
    # A copy: the changelog serialises later, and the live object keeps changing. A state
    # object's snapshot carries its version (pipeline.runtime.state).
    if hasattr(obj, "snapshot"):
        return dump(obj)
    return obj.copy()
