"""Faust tables whose keys name their partition, so timers can write to them too.

A stock Faust table takes the changelog partition from the current stream event, so only
code inside a stream iteration may write. Alert transitions also happen in timers (idle
window close, absence, keep_firing_for), so keys here are ``"<partition>|<key>"`` and the
partition is read back from the key: the state of a series stays on the partition of the
metrics that feed it, and moves with it on a rebalance.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import faust

__all__ = ["PartitionView", "PartitionedTable", "partitioned_table"]


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
        schema=faust.Schema(key_type=bytes, key_serializer="raw", value_serializer="json"),
    )
    return app.tables.add(table)


class PartitionView(MutableMapping[str, Any]):
    """The keys of one partition, as a plain mapping (what the pure cores take)."""

    def __init__(self, table: MutableMapping[Any, Any], partition: int) -> None:
        self._table = table
        self._prefix = f"{partition}|"

    def _key(self, key: str) -> bytes:
        return (self._prefix + key).encode()

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
        prefix = self._prefix.encode()
        for k in list(self._table.keys()):
            kb = k if isinstance(k, bytes) else str(k).encode()
            if kb.startswith(prefix):
                yield kb[len(prefix) :].decode()

    def __len__(self) -> int:
        return sum(1 for _ in self)
