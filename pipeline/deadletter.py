"""Build dead-letter records: the reason, the error and the original bytes."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from pipeline.runtime.guard import ProcessingGuard
from schemas.codec import decode, encode
from schemas.errors import DecodeError
from schemas.records import AggregateBatch, DeadLetter, WindowAggregate, new_id

__all__ = [
    "dead_letter",
    "decode_batch_or_dead_letter",
    "decode_or_dead_letter",
    "send_dead_letter",
]


def dead_letter(
    reason: str,
    error: str,
    source_topic: str,
    original: bytes,
    *,
    key: bytes | None = None,
    partition: int | None = None,
    offset: int | None = None,
    now: float | None = None,
) -> DeadLetter:
    """A DeadLetter for ``original``; key it by ``source_topic`` when sending (design.md)."""
    return DeadLetter(
        id=new_id(),
        reason=reason,
        error=error,
        source_topic=source_topic,
        ts=time.time() if now is None else now,
        original_b64=base64.b64encode(original).decode(),
        partition=partition,
        offset=offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
    )


async def send_dead_letter(topic: Any, reason: str, error: str, original: bytes, msg: Any) -> None:
    """Send ``original``, read as Kafka message ``msg``, to the dead-letter ``topic``
    (a Faust topic), keyed by the topic it came from."""
    record = dead_letter(
        reason, error, msg.topic, original,
        key=msg.key, partition=msg.partition, offset=msg.offset,
    )  # fmt: skip
    await topic.send(key=msg.topic.encode(), value=encode(record))


async def decode_or_dead_letter(
    raw: bytes, msg: Any, topic: Any, guard: ProcessingGuard, expect: Any = None
) -> Any:
    """The record in ``raw``, or None once it went to the dead-letter ``topic`` (counted)."""
    try:
        return decode(raw, expect)
    except DecodeError as exc:
        guard.count("decode")
        await send_dead_letter(topic, exc.reason, str(exc), raw, msg)
        return None


async def decode_batch_or_dead_letter(
    raw: bytes, msg: Any, topic: Any, guard: ProcessingGuard
) -> list[WindowAggregate] | None:
    """The aggregates of the AggregateBatch in ``raw``; None once it went to the
    dead-letter ``topic``.

    ``decode`` stops at the first bad aggregate, so when that is all that is wrong
    (the error's path is inside ``aggregates``) each one is decoded on its own: the bad
    ones go to the dead-letter topic one by one (``decode_item``), the rest are returned.
    """
    try:
        return decode(raw, AggregateBatch).aggregates
    except DecodeError as exc:
        if not exc.path.startswith("$.aggregates["):
            guard.count("decode")
            await send_dead_letter(topic, exc.reason, str(exc), raw, msg)
            return None
    good = []
    for item in orjson.loads(raw)["aggregates"]:
        one = orjson.dumps(item)
        try:
            good.append(decode(one, WindowAggregate))
        except DecodeError as exc:
            guard.count("decode_item")
            await send_dead_letter(topic, exc.reason, str(exc), one, msg)
    return good
