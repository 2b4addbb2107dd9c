"""The source protocol and a registry that refuses duplicate names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from agents.errors import DuplicateSourceError
from schemas.records import Sample

__all__ = ["Source", "SourceRegistry"]


@runtime_checkable
class Source(Protocol):
    """A metric source. ``collect`` must not raise for a down target: it reports ``up=0``."""

    name: str
    interval: float

    async def collect(self) -> list[Sample]: ...


class SourceRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}

    def register(self, source: Source) -> Source:
        if source.name in self._sources:
            raise DuplicateSourceError(f"source {source.name!r} is already registered")
        self._sources[source.name] = source
        return source

    def __iter__(self) -> Iterator[Source]:
        return iter(self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    def names(self) -> list[str]:
        return list(self._sources)
