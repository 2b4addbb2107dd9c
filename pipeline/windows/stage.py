"""The windows stage: metrics -> window aggregates (-> the window sinks: alerts).

One MetricWindows per metrics partition (the watermark is per partition), driven by the
windowed-ingest runtime (pipeline.runtime), which owns decoding errors, replay skip, acks
held until a record's windows are out, dead letters and revocation. Closed windows go to
``toka.aggregates`` (and, one record per close, to the analytics stages) and to the
context's window sinks.
"""

from __future__ import annotations

from pipeline.runtime.context import StageContext
from pipeline.runtime.faust_runtime import run_windowed
from pipeline.windows.logic import MetricWindows

__all__ = ["install"]


def install(ctx: StageContext) -> None:
    pc = ctx.cfg.pipeline
    run_windowed(
        ctx, "windows", [(ctx.topics.metrics, "toka-windows")],
        lambda _topic, _partition: MetricWindows(pc),
    )  # fmt: skip
