"""The regression stage's logic on the analytics loop, in process (no broker): a step in
p95 latency is reported once, a replay after a restart reports nothing again."""

from __future__ import annotations

import numpy as np

from pipeline.regressions.logic import RegressionLogic
from pipeline.runtime.analytics_runtime import AnalyticsLoop
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.runtime.state import unwrap
from pipeline.tables import WriteBehind
from pipeline.windows import series_id
from schemas import AggregateBatch, WindowAggregate, decode, encode, new_id
from schemas.analytics import Regression
from schemas.config.analytics import AnalyticsConfig
from tests.pipeline.runtime.ingest_support import BATCHES, Msg, Topic

CFG = AnalyticsConfig(regressions={"baseline_windows": 20, "current_windows": 5})


def windows(n: int, step_at: int) -> list[bytes]:
    rng, labels, out = np.random.default_rng(1), {"route": "/a"}, []
    for i in range(n):
        p95 = 0.2 * (1.5 if i >= step_at else 1.0) * (1 + 0.03 * rng.standard_normal())
        agg = WindowAggregate(
            id=new_id(), series=series_id("web-1", "http_request_seconds", labels),
            name="http_request_seconds", host="web-1", window_start=1000.0 + 10 * i,
            window_end=1010.0 + 10 * i, count=100, sum=10.0, min=0.01, max=0.5, mean=0.1,
            last=0.1, labels=labels, p95=p95,
        )  # fmt: skip
        out.append(encode(AggregateBatch(id=new_id(), aggregates=[agg])))
    return out


def loop(table: dict, positions: dict) -> AnalyticsLoop:
    state = WriteBehind(table, positions, "regressions", 60.0)
    logic = RegressionLogic(CFG.regressions, CFG.bench, state, "regressions-topic")
    return AnalyticsLoop(state, logic, ProcessingGuard("regressions"), Progress(),
                         deadletter=Topic(), batches=BATCHES)  # fmt: skip


async def test_a_step_is_one_regression_and_a_replay_finds_nothing_again() -> None:
    table: dict = {}
    positions: dict = {}
    records = windows(45, step_at=30)
    run = loop(table, positions)
    found = [f for i, raw in enumerate(records) for f in await run.handle(raw, Msg(i))]
    (reg,) = [decode(f.value, Regression) for f in found]
    assert reg.subject.startswith("http_request_seconds") and reg.change_percent > 30
    # A successor restores the table as the finding made it durable (no settle since):
    # it skips the batches up to the finding's and re-applies the rest, finding nothing.
    again = loop(table, positions)
    assert [f for i, raw in enumerate(records) for f in await again.handle(raw, Msg(i))] == []
    ((first, last),) = unwrap(positions["0|regressions"])["ranges"]
    assert first == 0 and again.guard.counts["replayed"] == last + 1 < 45
