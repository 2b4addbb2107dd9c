"""One readable line per record of any topic, for ``toka topics tail``.

Aggregates are read through ``schemas.aggregates`` (any form, one line per series); alerts
use the console's format; every other record prints its kind and its scalar fields.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pipeline.console import format_alert
from schemas import Alert, DeadLetter, MetricBatch, SpanBatch, WindowAggregate, decode
from schemas.aggregates import AGGREGATE_FORMS, read_aggregates

__all__ = ["record_lines"]

#: Longest text of one field in the generic line (a reason or a recommendation, not a dump).
_FIELD_CHARS = 80


def record_lines(value: bytes) -> list[str]:
    """The lines for one record's bytes; raises DecodeError for bytes that are no record."""
    record = decode(value)
    if isinstance(record, AGGREGATE_FORMS):
        return [_aggregate_line(agg) for agg in read_aggregates(record)]
    if isinstance(record, Alert):
        return [format_alert(record)]
    if isinstance(record, DeadLetter):
        where = f"{record.source_topic}[{record.partition}]@{record.offset}"
        return [f"[{_clock(record.ts)}] DEAD LETTER {record.reason}  {where}  {record.error}"]
    if isinstance(record, MetricBatch):
        return [
            f"[{_clock(record.ts)}] {record.host} {record.source}: {len(record.samples)} samples"
        ]
    if isinstance(record, SpanBatch):
        service = record.resource.get("service.name", "?")
        return [f"{record.host} {service}: {len(record.spans)} spans"]
    return [_generic_line(record)]


def _aggregate_line(agg: WindowAggregate) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(agg.labels.items()))
    series = f"{agg.name}{{{labels}}}" if labels else agg.name
    size = agg.window_end - agg.window_start
    rate = f" rate={agg.rate:g}/s" if agg.rate is not None else ""
    return (
        f"[{_clock(agg.window_end)}] {agg.host} {size:g}s {series}  count={agg.count}"
        f" mean={agg.mean:g} min={agg.min:g} max={agg.max:g} last={agg.last:g}{rate}"
    )


def _generic_line(record: msgspec.Struct) -> str:
    kind = type(record).__name__
    fields = [
        f"{name}={_short(value)}"
        for name, value in msgspec.structs.asdict(record).items()
        if name != "id" and isinstance(value, str | int | float | bool)
    ]
    return f"{kind}  " + " ".join(fields)


def _short(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= _FIELD_CHARS else text[: _FIELD_CHARS - 1] + "…"


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
