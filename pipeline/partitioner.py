"""Kafka's default partitioner with the key hashes remembered.

aiokafka's murmur2 is pure Python: a quarter of the windows stage's CPU at one sample per
aggregate, where every aggregate is a keyed record. Series ids repeat every window, so
their hashes are computed once. Same partitions as Kafka's Java client picks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

__all__ = ["CachingPartitioner"]


class CachingPartitioner:
    def __init__(self, max_keys: int = 1 << 18) -> None:
        self.max_keys = max_keys  # forgets them all when full: bounded whatever keys arrive
        self._hashes: dict[bytes, int] = {}

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self.max_keys:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]
