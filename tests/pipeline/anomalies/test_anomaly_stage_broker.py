"""The anomaly stage on the real broker: a process whose RSS grows for hours -> one
``leak_suspect`` with its growth rate and time to exhausting the host's memory; a spike on
an ordinary series -> ``spike``. Input: one AggregateBatch per window close on the host's
partition, as the windows stage sends them. Records validate against their JSON Schema."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import jsonschema
import numpy as np
import orjson
import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.windows import series_id
from schemas import DeadLetter, WindowAggregate, decode, encode, new_id
from schemas.analytics import Anomaly
from schemas.jsonschema_files import load
from tests.pipeline.regressions.analytics_support import batches, publish_batches, stage_worker
from tests.support.kafka import collect

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
RATE = 60e6  # bytes per hour
HOST_TOTAL, HOST_USED, HOST_AVAILABLE = 16e9, 10e9, 7e9  # available counts reclaimable cache


def agg(name: str, labels: dict[str, str], t: float, value: float) -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=series_id("app-1", name, labels), name=name, host="app-1",
        window_start=t - 60, window_end=t, count=6, sum=6 * value, min=value, max=value,
        mean=value, last=value, labels=labels,
    )  # fmt: skip


def test_growing_rss_is_a_leak_suspect_and_a_spike_is_a_spike(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    proc = {"pid": "4242", "name": "api"}
    records = [
        agg("system_memory_total_bytes", {}, T0, HOST_TOTAL),
        agg("system_memory_used_bytes", {}, T0, HOST_USED),
        agg("system_memory_available_bytes", {}, T0, HOST_AVAILABLE),
    ]
    for i in range(1, 3 * 60 + 2):  # three hours of one-minute windows
        t = T0 + 60 * i
        rss = 300e6 + RATE * (t - T0) / 3600 + rng.normal(0, 1e6)
        records.append(agg("process_resident_memory_bytes", proc, t, rss))
        cpu = 90.0 if i == 150 else 20 + rng.normal(0, 1)
        records.append(agg("system_cpu_percent", {}, t, cpu))
    with stage_worker(broker, "pipeline.anomalies.stage", tmp_path, {}) as cfg:
        t = cfg.kafka.topic
        publish_batches(cfg, batches(records), partition=1)

        def done(got: list[tuple[bytes, Anomaly]]) -> bool:
            kinds = {a.kind for _, a in got}
            return {"leak_suspect", "spike"} <= kinds

        got = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("anomalies"), done, 90,
                    decode=lambda b: (b, decode(b, Anomaly)))
        )  # fmt: skip
    schema = load("toka.anomaly.v1")
    for raw, _ in got:
        jsonschema.validate(json.loads(raw), schema)
    leaks = [a for _, a in got if a.kind == "leak_suspect"]
    assert len(leaks) == 1  # the cooldown holds further ones back
    leak = leaks[0]
    assert leak.labels == proc and leak.method == "leak"
    assert leak.growth_per_hour == pytest.approx(RATE, rel=0.05)
    assert leak.time_to_exhaustion_seconds == pytest.approx(HOST_AVAILABLE / RATE * 3600, rel=0.05)
    spikes = [a for _, a in got if a.kind == "spike"]
    assert [a.name for a in spikes] == ["system_cpu_percent"]
    assert spikes[0].observed == 90.0 and spikes[0].window_end == T0 + 60 * 150


def test_a_bad_batch_goes_to_dead_letter_and_the_next_is_processed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Undecodable batch -> dead letter whole; a batch with one bad aggregate -> that one
    to dead letter, its good neighbour scored; later batches still find the spike."""
    rng = np.random.default_rng(3)
    cpu = [agg("system_cpu_percent", {}, T0 + 60 * i, 20 + rng.normal(0, 1)) for i in range(30)]
    spike = agg("system_cpu_percent", {}, T0 + 60 * 30, 90.0)
    bad = {**orjson.loads(encode(cpu[0])), "id": new_id(), "count": "many"}
    mixed = orjson.dumps(
        {"schema": "toka.aggregate_batch.v1", "id": new_id(),
         "aggregates": [bad, orjson.loads(encode(cpu[0]))]}
    )  # fmt: skip
    with stage_worker(broker, "pipeline.anomalies.stage", tmp_path, {}) as cfg:
        t = cfg.kafka.topic
        publish_batches(cfg, [b"{not json", mixed, *batches(cpu[1:] + [spike])])
        got = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("anomalies"), lambda g: len(g) >= 1, 60,
                    decode=lambda b: decode(b, Anomaly))
        )  # fmt: skip
        dead = asyncio.run(
            collect(cfg.kafka.bootstrap_servers, t("deadletter"), lambda g: len(g) >= 2, 30,
                    decode=lambda b: decode(b, DeadLetter))
        )  # fmt: skip
    assert [(a.kind, a.observed, a.window_end) for a in got] == [("spike", 90.0, spike.window_end)]
    assert [(d.reason, d.source_topic, d.offset) for d in dead] == [
        ("not_json", t("aggregate-batches"), 0),
        ("wrong_type", t("aggregate-batches"), 1),
    ]
    assert orjson.loads(base64.b64decode(dead[1].original_b64)) == bad
