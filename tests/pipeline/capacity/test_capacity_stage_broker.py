"""The capacity stage on the real broker: a disk filling up (used and total series in the
host's AggregateBatch records, one per window close) -> a CapacityForecast whose time to
critical is within 10% of the true time, valid against its JSON Schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.windows import series_id
from schemas import WindowAggregate, decode, new_id
from schemas.analytics import CapacityForecast
from schemas.jsonschema_files import load
from tests.pipeline.regressions.analytics_support import batches, publish_batches, stage_worker
from tests.support.kafka import collect

pytestmark = pytest.mark.integration

DAY = 86400.0
TOTAL = 100e9
START, RATE = 50e9, 2e9  # bytes, bytes per day
STEP = 300.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % DAY
N = 2 * 288  # two days of 5-minute windows
SETTINGS = {"capacity": {"refit_interval_seconds": 1.0, "min_history_hours": 1.0}}


def agg(name: str, i: int, value: float) -> WindowAggregate:
    labels = {"mount": "/data"}
    return WindowAggregate(
        id=new_id(), series=series_id("db-1", name, labels), name=name, host="db-1",
        window_start=T0 + STEP * i, window_end=T0 + STEP * (i + 1), count=30, sum=value * 30,
        min=value, max=value, mean=value, last=value, labels=labels,
    )  # fmt: skip


def test_disk_filling_up_forecasts_time_to_critical(broker: EmbeddedBroker, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    records = []
    for i in range(N):
        t_days = STEP * (i + 1) / DAY
        used = START + RATE * t_days + rng.normal(0, 0.02e9)
        records.append(agg("system_disk_used_bytes", i, used))
        if i % 12 == 0:
            records.append(agg("system_disk_total_bytes", i, TOTAL))
    with stage_worker(broker, "pipeline.capacity.stage", tmp_path, SETTINGS) as cfg:
        t = cfg.kafka.topic
        publish_batches(cfg, batches(records), partition=1)

        def complete(got: list[tuple[bytes, CapacityForecast]]) -> bool:
            return any(f.history_points >= N - 1 and f.capacity for _, f in got)

        got = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("capacity"), complete, 90,
                    decode=lambda b: (b, decode(b, CapacityForecast)))
        )  # fmt: skip
    schema = load("toka.capacity_forecast.v1")
    for raw, _ in got:
        jsonschema.validate(json.loads(raw), schema)
    fc = next(f for _, f in got if f.history_points >= N - 1 and f.capacity)
    assert fc.capacity == TOTAL and fc.critical_threshold == pytest.approx(0.9 * TOTAL)
    assert fc.model == "linear" and fc.growth_pattern == "linear"
    used_now = START + RATE * (fc.as_of - T0) / DAY
    truth = (0.9 * TOTAL - used_now) / RATE * DAY
    assert fc.time_to_critical_seconds == pytest.approx(truth, rel=0.10)
    assert fc.time_to_warning_seconds < fc.time_to_critical_seconds
    assert fc.recommendation == "plan"  # critical in ~18 days: within plan_days, past a week
    f30 = fc.forecasts[0]
    assert f30.horizon_days == 30 and f30.lower < f30.value < f30.upper
    assert f30.value == pytest.approx(used_now + 30 * RATE, rel=0.05)
