"""Builders shared by the alert tests."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson

from schemas.records import WindowAggregate, new_id


def agg(
    name: str, value: float, t: float, host: str = "h1", window: float = 10.0, **labels: str
) -> WindowAggregate:
    """A window ending at ``t`` whose every statistic is ``value``."""
    return WindowAggregate(
        id=new_id(), series=f"{host}/{name}", name=name, host=host,
        window_start=t - window, window_end=t, count=1, sum=value, min=value, max=value,
        mean=value, last=value, labels=labels, rate=value, p50=value, p90=value, p95=value,
        p99=value,
    )  # fmt: skip


class ChangelogDict(MutableMapping[str, Any]):
    """A state mapping that keeps values only as JSON bytes, like a changelogged table: a
    value changed in place and not assigned back is lost, and a value that is not plain
    JSON fails at once."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self.writes = 0

    def __getitem__(self, key: str) -> Any:
        return orjson.loads(self._data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = orjson.dumps(value)
        self.writes += 1

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.writes += 1

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)
