"""The anomaly stage's logic on the analytics loop, in process (no broker): a spike after
a steady history is one anomaly, the batch's other series still count, a replayed batch
is not scored twice."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.anomalies.logic import AnomalyLogic
from pipeline.runtime.analytics_runtime import AnalyticsLoop
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.tables import WriteBehind
from schemas import AggregateBatch, WindowAggregate, decode, encode, new_id
from schemas.analytics import Anomaly
from schemas.config.analytics import AnomalyConfig
from tests.pipeline.runtime.ingest_support import BATCHES, Msg, Topic

ANOMALIES = object()  # the output topic, as the logic sees it


def agg(name: str, host: str, i: int, value: float) -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=f'{name}{{host="{host}"}}', name=name, host=host,
        window_start=60.0 * i, window_end=60.0 * (i + 1), count=1, sum=value, min=value,
        max=value, mean=value, last=value, p95=value,
    )  # fmt: skip


def loop() -> AnalyticsLoop:
    state = WriteBehind({}, {}, "anomalies", 60.0)
    logic = AnomalyLogic(AnomalyConfig(seasonal_periods_seconds=[]), state, ANOMALIES)
    return AnalyticsLoop(state, logic, ProcessingGuard("anomalies"), Progress(),
                         deadletter=Topic(), batches=BATCHES)  # fmt: skip


async def test_a_spike_after_a_steady_history_is_one_anomaly_per_field() -> None:
    run, rng = loop(), np.random.default_rng(1)
    found: list[Any] = []
    for i in range(40):
        spike = i == 39
        value = 500.0 if spike else 50 + rng.normal(0, 1)
        raw = encode(AggregateBatch(id=new_id(), aggregates=[
            agg("cpu", "web-1", i, value), agg("cpu", "web-2", i, 50 + rng.normal(0, 1)),
        ]))  # fmt: skip
        found += await run.handle(raw, Msg(i))
        await run.handle(raw, Msg(i))  # re-delivered: skipped, not scored twice
    anomalies = [decode(f.value, Anomaly) for f in found]
    assert {(a.series, a.field) for a in anomalies} == {
        ('cpu{host="web-1"}', "mean"),
        ('cpu{host="web-1"}', "p95"),
    }
    assert all(f.topic is ANOMALIES for f in found)
    assert run.guard.counts["replayed"] == 40
