"""One versioned snapshot protocol for every stage's durable state.

A state class has ``snapshot() -> plain JSON-able data`` and ``restore(data)``; it may
declare ``STATE_VERSION`` (default 1) and ``upgrade(data, version) -> data`` to read
snapshots an older release wrote. ``dump`` wraps a snapshot with its version; ``load``
unwraps it, upgrades it when older, and refuses one newer than this release can read
(a rollback must not misread state). Snapshots written before this protocol existed
carry no envelope: they are version 1.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from schemas.errors import TokaError

__all__ = ["StateVersionError", "Stateful", "dump", "load", "restore_with", "unwrap", "version_of"]

_VERSION, _STATE = "~v", "~s"

T = TypeVar("T")


class Stateful(Protocol):
    def snapshot(self) -> Any: ...


class StateVersionError(TokaError):
    """A snapshot written by a newer release than this one."""


def version_of(cls: type) -> int:
    return int(getattr(cls, "STATE_VERSION", 1))


def dump(obj: Stateful) -> dict[str, Any]:
    return {_VERSION: version_of(type(obj)), _STATE: obj.snapshot()}


def load(cls: type[T], raw: Any) -> T:
    """The ``cls`` object of a snapshot written by ``dump`` (or an unwrapped legacy one)."""
    if isinstance(raw, dict) and _VERSION in raw and _STATE in raw:
        version, data = int(raw[_VERSION]), raw[_STATE]
    else:
        version, data = 1, raw
    current = version_of(cls)
    if version > current:
        raise StateVersionError(
            f"{cls.__name__} snapshot version {version} is newer than this release reads "
            f"({current}): upgrade the worker"
        )
    if version < current:
        data = cls.upgrade(data, version)  # type: ignore[attr-defined]
    return cls.restore(data)  # type: ignore[attr-defined,no-any-return]


def unwrap(raw: Any) -> Any:
    """The snapshot data inside ``raw`` whatever its version (for tools that only read)."""
    if isinstance(raw, dict) and _VERSION in raw and _STATE in raw:
        return raw[_STATE]
    return raw


def restore_with(restore: Any, raw: Any) -> Any:
    """Restore ``raw`` with ``restore``: a class's ``restore`` classmethod goes through
    ``load`` (versions checked and upgraded); any other callable gets the data."""
    cls = getattr(restore, "__self__", None)
    if isinstance(cls, type):
        return load(cls, raw)
    return restore(unwrap(raw))
