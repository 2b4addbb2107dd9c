"""Faust adapter of the anomaly stage: aggregate batches -> robust/STL scores and leak
suspects.

A process's RSS and its host's memory series must meet on one partition (time to
exhaustion needs both). Batches guarantee it without a re-keying hop: they come from the
windows stage on the partition number of the metrics they were folded from, and metrics
are keyed by host, so every series of a host (its processes' RSS included) arrives on one
partition, in order.

State (per series field, per process, per host's memory) is keyed by partition in a
changelogged table, kept live in memory and written behind every
``analytics.state_flush_seconds`` and before each anomaly is sent; offsets are committed
only behind it (pipeline.tables.WriteBehind). A killed worker's successor replays what
the table lacks and skips what it has: no history lost, no batch applied twice, no
anomaly reported twice.
"""

from __future__ import annotations

from pipeline.anomalies.logic import AnomalyLogic
from pipeline.runtime.analytics_runtime import run_analytics
from pipeline.runtime.context import StageContext

__all__ = ["TOPIC_KINDS", "install"]

#: Topics of this stage besides the pipeline's own (none: it reads aggregate-batches).
TOPIC_KINDS: tuple[str, ...] = ()


def install(ctx: StageContext) -> None:
    ac = ctx.cfg.analytics.anomalies
    if not ac.enabled:
        return
    run_analytics(
        ctx, "anomalies", "toka-anomaly-state",
        lambda state: AnomalyLogic(ac, state, ctx.topics.anomalies),
    )  # fmt: skip
