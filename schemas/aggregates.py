"""One reader for every form of aggregates: what consumers of ``toka.aggregates`` call.

The topic carries one WindowAggregate per series and window (v1), and the internal batches
topic an AggregateBatch; a columnar record per host and window (v2) is planned. Whatever
form a record has, ``read_aggregates`` gives the per-series aggregates it holds, so the
dashboard, the exporters, ``toka topics tail`` and users' code never branch on the form.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from schemas.codec import decode
from schemas.errors import DecodeError
from schemas.records import AggregateBatch, WindowAggregate

__all__ = ["AGGREGATE_FORMS", "read_aggregates", "read_many"]

#: Record types ``read_aggregates`` understands.
AGGREGATE_FORMS: tuple[type[msgspec.Struct], ...] = (WindowAggregate, AggregateBatch)


def read_aggregates(record: bytes | msgspec.Struct) -> list[WindowAggregate]:
    """The per-series aggregates in one record (raw bytes or an already decoded record).

    Raises DecodeError for bytes that are not a record, or a record that holds no aggregates
    (the reason names what it was)."""
    if isinstance(record, bytearray | memoryview):
        record = bytes(record)
    decoded = decode(record) if isinstance(record, bytes) else record
    if isinstance(decoded, WindowAggregate):
        return [decoded]
    if isinstance(decoded, AggregateBatch):
        return list(decoded.aggregates)
    kind = type(decoded).__name__
    raise DecodeError("unknown_schema", f"a {kind} record holds no aggregates")


def read_many(records: Iterable[bytes | msgspec.Struct]) -> list[WindowAggregate]:
    """Every aggregate in ``records``, in order."""
    out: list[WindowAggregate] = []
    for record in records:
        out.extend(read_aggregates(record))
    return out
