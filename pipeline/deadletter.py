"""Build dead-letter records: the reason, the error and the original bytes."""

from __future__ import annotations

import base64
import time

from schemas.records import DeadLetter, new_id

__all__ = ["dead_letter"]


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
