"""Faust tables whose keys name their partition, so timers can write to them too.

A stock Faust table takes the changelog partition from the current stream event, so only
code inside a stream iteration may write. Alert transitions also happen in timers (idle
window close, absence, keep_firing_for), so keys here are ``"<partition>|<key>"`` and the
partition is read back from the key: the state of a series stays on the partition of the
metrics that feed it, and moves with it on a rebalance.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import faust

__all__ = ["PartitionView", "PartitionedTable", "make_durable", "partitioned_table"]

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
    return app.tables.add(table)


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
