"""Scale-out equivalence (issue 11): one recorded input through 1 worker and through 3
workers of one group (one joins late, one leaves early) gives the same aggregates, the same
alert transitions and the same regressions.

Delivery is at-least-once, so records are first deduplicated by id; after that no sample
may be counted twice or missing, and no alert transition missing or repeated.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import Alert, MetricBatch, Sample, WindowAggregate, decode, encode, new_id
from schemas.analytics import Regression
from schemas.config import TokaConfig
from tests.pipeline.web.helpers import http_get, wait_until
from tests.support.kafka import collect, publish, stop_process, toka_process

pytestmark = [pytest.mark.integration, pytest.mark.manual, pytest.mark.timeout(600)]

WINDOW = 2.0
TICK = 0.5  # event time between two collections of a host
TICKS = 60
HOSTS = [f"scale-{i}" for i in range(6)]
PARTITIONS = 4
T0 = (time.time() // 60) * 60 - 3600  # an hour ago: windows close on the watermark alone


def _batch(host: str, tick: int) -> MetricBatch:
    cpu = 95.0 if host == "scale-0" and 10 <= tick < 22 else 10.0 + tick % 3
    latency = 150.0 if host == "scale-1" and tick >= 36 else 100.0
    return MetricBatch(
        id=new_id(), host=host, source="system", ts=T0 + tick * TICK,
        samples=[Sample(name="system_cpu_percent", value=cpu),
                 Sample(name="system_memory_percent", value=40.0 + tick % 5),
                 Sample(name="app_latency_ms", value=latency, labels={"route": "/cart"})],
    )  # fmt: skip


INPUT = [[_batch(host, tick) for host in HOSTS] for tick in range(TICKS)]
#: One more collection per host, far enough ahead to close every window above.
FLUSH = [_batch(host, TICKS + 20) for host in HOSTS]


def _env(bootstrap: str, prefix: str, tmp: Path, name: str) -> dict[str, str]:
    return {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "600",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__PARTITIONS": str(PARTITIONS),
        "TOKA_PIPELINE__DATA_DIR": str(tmp / f"data-{name}"),
        "TOKA_ANALYTICS__STATE_FLUSH_SECONDS": "1",
        "TOKA_ANALYTICS__REGRESSIONS__SERIES": '["app_latency_ms"]',
        "TOKA_ANALYTICS__REGRESSIONS__BASELINE_WINDOWS": "5",
        "TOKA_ANALYTICS__REGRESSIONS__CURRENT_WINDOWS": "3",
        "TOKA_ANALYTICS__REGRESSIONS__P_VALUE": "0.05",
    }


async def _run(
    broker: EmbeddedBroker, tmp: Path, prefix: str, events: dict[int, Callable[[], None]]
) -> TokaConfig:
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": PARTITIONS},
    )
    await ensure_topics(cfg)
    topic = cfg.kafka.topic("metrics")
    for tick, batches in enumerate(INPUT):
        if tick in events:
            events[tick]()
        await publish(broker.bootstrap, topic, [(b.host.encode(), encode(b)) for b in batches])
        await asyncio.sleep(0.3)
    await publish(broker.bootstrap, topic, [(b.host.encode(), encode(b)) for b in FLUSH])
    return cfg


def _expected_windows() -> Counter[tuple[str, float]]:
    counts: Counter[tuple[str, float]] = Counter()
    for batches in INPUT:
        for b in batches:
            counts[(b.host, (b.ts // WINDOW) * WINDOW)] += 1
    return counts


async def _outputs(cfg: TokaConfig) -> dict[str, Any]:
    bs = cfg.kafka.bootstrap_servers
    expected = _expected_windows()

    def cpu(aggs: list[WindowAggregate]) -> dict[tuple[str, float], list[WindowAggregate]]:
        out: dict[tuple[str, float], list[WindowAggregate]] = {}
        for a in {a.id: a for a in aggs}.values():
            if a.name == "system_cpu_percent" and (a.host, a.window_start) in expected:
                out.setdefault((a.host, a.window_start), []).append(a)
        return out

    aggs = await collect(
        bs, cfg.kafka.topic("aggregates"), lambda got: cpu(got).keys() >= expected.keys(),
        timeout=180, decode=lambda v: decode(v, WindowAggregate),
    )  # fmt: skip
    alerts = await collect(
        bs, cfg.kafka.topic("alerts"),
        lambda got: any(a.status == "resolved" and a.labels.get("host") == "scale-0" for a in got),
        timeout=120, decode=lambda v: decode(v, Alert),
    )  # fmt: skip
    regressions = await collect(
        bs, cfg.kafka.topic("regressions"), lambda got: len(got) > 0,
        timeout=120, decode=lambda v: decode(v, Regression),
    )  # fmt: skip
    await asyncio.sleep(3)  # anything that would arrive twice arrives now
    aggs = await collect(bs, cfg.kafka.topic("aggregates"), lambda g: len(g) >= len(aggs),
                         decode=lambda v: decode(v, WindowAggregate))  # fmt: skip
    return {
        "windows": {k: [(a.count, a.sum, a.min, a.max) for a in v] for k, v in cpu(aggs).items()},
        "alerts": sorted(
            (a.labels.get("host", ""), a.labels["alertname"], a.status, a.startsAt)
            for a in {a.id: a for a in alerts}.values()
            # finding alerts start on the wall clock (a regression's report time): compare
            # the threshold rules' transitions, which follow event time
            if a.rule in ("HostCpuHigh", "HostMemoryHigh")
        ),
        "regressions": sorted(
            (r.subject, r.field, r.direction) for r in {r.id: r for r in regressions}.values()
        ),
    }


async def _ready(env: dict[str, str]) -> None:
    """A worker stopped while it still starts dies of the signal: wait for its /readyz."""
    url = f"http://127.0.0.1:{env['TOKA_PIPELINE__WEB_PORT']}/readyz"
    await asyncio.to_thread(wait_until, lambda: http_get(url)[0] == 200, 120, "ready")


async def test_three_workers_with_joins_and_leaves_match_one(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    one_prefix, three_prefix = f"one{new_id()[:5]}.", f"three{new_id()[:5]}."
    env_one = _env(broker.bootstrap, one_prefix, tmp_path, "one")
    single = toka_process(["worker"], env_one, tmp_path / "one.log")
    try:
        await _ready(env_one)
        cfg_one = await _run(broker, tmp_path, one_prefix, {})
        one = await _outputs(cfg_one)
    finally:
        assert stop_process(single) == 0, (tmp_path / "one.log").read_text()[-3000:]

    procs: dict[str, Any] = {}
    codes: dict[str, int] = {}

    def stop(name: str) -> Callable[[], None]:
        def go() -> None:
            codes[name] = stop_process(procs[name])

        return go

    def start(name: str) -> Callable[[], None]:
        def go() -> None:
            procs[name] = toka_process(["worker"], envs[name], tmp_path / f"{name}.log")

        return go

    envs = {name: _env(broker.bootstrap, three_prefix, tmp_path, name) for name in "abc"}
    start("a")()
    start("b")()
    try:
        await _ready(envs["a"])
        await _ready(envs["b"])
        cfg_three = await _run(
            broker, tmp_path, three_prefix,
            {15: start("c"), 40: stop("a")},
        )  # fmt: skip
        three = await _outputs(cfg_three)
        await _ready(envs["c"])  # the late joiner must have become a working member
    finally:
        for name in procs:
            if name not in codes:
                stop(name)()
        for name, code in codes.items():
            assert code == 0, (tmp_path / f"{name}.log").read_text()[-3000:]

    expected = _expected_windows()
    for label, run in (("1 worker", one), ("3 workers", three)):
        doubled = {k: v for k, v in run["windows"].items() if len(v) > 1}
        assert not doubled, f"{label}: windows emitted twice: {doubled}"
        counts = {k: v[0][0] for k, v in run["windows"].items()}
        assert counts == dict(expected), f"{label}: {set(counts.items()) ^ set(expected.items())}"
    assert three["windows"] == one["windows"]
    firing = [a for a in one["alerts"] if a[0] == "scale-0" and a[2] == "firing"]
    assert len(firing) == 1, one["alerts"]
    assert three["alerts"] == one["alerts"]
    assert any(r[0].startswith("scale-1") or "scale-1" in r[0] for r in one["regressions"])
    assert three["regressions"] == one["regressions"]
