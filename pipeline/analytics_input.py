"""What every analytics stage reads and keeps: the aggregate-batches topic (plus any topics
of its own) and a written-behind state table (pipeline.tables.WriteBehind)."""

from __future__ import annotations

from typing import Any, NamedTuple

import faust

from pipeline.deadletter import decode_batch_or_dead_letter
from pipeline.stage_errors import ProcessingGuard
from pipeline.tables import WriteBehind, partitioned_table, positions_table
from schemas import WindowAggregate
from schemas.config import TokaConfig

__all__ = ["AnalyticsInput", "analytics_input", "batch_to_apply"]


class AnalyticsInput(NamedTuple):
    state: WriteBehind
    source: Any  # the Faust topic the stage's agent reads
    batches: str  # name of the aggregate-batches topic


def analytics_input(
    app: faust.App, cfg: TokaConfig, table: str, stage: str, *more_topics: str
) -> AnalyticsInput:
    parts = cfg.pipeline.partitions
    state = WriteBehind(
        partitioned_table(app, table, parts), positions_table(app, parts), stage,
        cfg.analytics.state_flush_seconds,
    )  # fmt: skip
    batches = cfg.kafka.topic("aggregate-batches")
    # internal=True makes Faust create any missing topic of the agent before subscribing,
    # with the configured partition count; a broker's auto-created default could differ
    # from the table changelog's and crash the worker ("Unrecognized partition").
    source = app.topic(
        batches, *more_topics, key_type=bytes, value_type=bytes, internal=True, partitions=parts
    )
    state.attach(app, batches)
    return AnalyticsInput(state, source, batches)


async def batch_to_apply(
    state: WriteBehind, event: Any, deadletter: Any, guard: ProcessingGuard
) -> list[WindowAggregate] | None:
    """The aggregates of a batch event, or None when there is nothing to apply: a replay
    the state already holds, a bad batch (dead-lettered) or a partition revoked meanwhile.
    The caller applies them, then calls ``state.applied`` with the event's position."""
    msg = event.message
    if state.replayed(msg.partition, msg.offset, msg.timestamp):
        guard.count("replayed")
        return None
    aggs = await decode_batch_or_dead_letter(event.value, msg, deadletter, guard)
    return aggs if aggs is not None and state.owns(msg.partition) else None
