"""Faust adapter of the profiles stage: ProfileReport records on ``toka.profiles`` ->
ProfileFinding records on the same topic, keyed by host like the rest of the session.

Installed when ``performance.profiling_enabled`` is true (pipeline.app), with the
thresholds of ``analytics.profiles``. It reads ``toka.profiles`` only (no aggregate
batches). The topic also carries each session's status records, raw-profile chunks and
this stage's own findings: they are read and passed over, so a finding is never input
again. Any other record there is dead-lettered by the runtime as ``unknown_schema``.

A host's records share a partition, so its reports arrive in order; the baseline of a
service (``became_hot``) is kept on the partition of the host that reported it, so a
service on several hosts is compared per partition its hosts fall on.
"""

from __future__ import annotations

from typing import Any

from pipeline.profiles.logic import ProfileLogic
from pipeline.runtime.analytics_runtime import Finding, run_analytics
from pipeline.runtime.context import StageContext
from pipeline.tables import WriteBehind

__all__ = ["STATE_TABLE", "TOPIC_KINDS", "install"]

#: Topics of this stage besides the pipeline's own (none: toka.profiles is one of them).
TOPIC_KINDS: tuple[str, ...] = ()

STATE_TABLE = "toka-profile-state"


def install(ctx: StageContext) -> None:
    app, cfg = ctx.app, ctx.cfg
    name = cfg.kafka.topic("profiles")
    findings = app.topic(name, key_type=bytes, value_type=bytes)
    logic: ProfileLogic | None = None

    def make_logic(state: WriteBehind) -> ProfileLogic:
        nonlocal logic
        logic = ProfileLogic(cfg.analytics.profiles, state, findings)
        return logic

    async def on_record(record: Any, raw: bytes, msg: Any) -> list[Finding]:
        assert logic is not None  # made before the agent starts
        return logic.on_record(record, msg.partition)

    run_analytics(
        ctx, "profiles", STATE_TABLE, make_logic, name, on_record=on_record, read_batches=False
    )
