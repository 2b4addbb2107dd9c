"""The worker's own endpoints on Faust's web server (``pipeline.web_port``).

- ``/metrics``: Prometheus text, from a registry of this app's own (never the process-wide
  default registry, so two apps in one process never mix their numbers).
- ``/healthz``: liveness, 200 or 503 with the problems as JSON (see health.py).
- ``/readyz``: 200 once the worker has its partitions, has recovered its tables and is
  not in a rebalance (before its first assignment it is not ready).
"""

from __future__ import annotations

import time
from typing import Any, cast

import faust
from aiohttp.web import Response
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pipeline.stage_errors import registered_guards
from pipeline.web.collector import WorkerCollector, health_input, stage_counts
from pipeline.web.health import Health, HealthJudge, HealthPolicy, StageCounts
from pipeline.web.sensor import OutputSensor
from pipeline.web.supervision import CrashLog, supervisor_for
from schemas.config import TokaConfig

__all__ = ["install"]

#: How often the stage counts are sampled for the health history (the error window).
HEALTH_TICK_SECONDS = 5.0


def install(
    app: faust.App,
    topics: Any,
    cfg: TokaConfig,
    policy: HealthPolicy | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """``registry``: where the worker's metrics go (default: a new one for this app);
    /metrics serves all of it, so a caller may add collectors of its own."""
    crashes = CrashLog()
    # Every agent started after this (all of them: agents start with the worker) gets a
    # supervisor that counts its restarts.
    app.conf.agent_supervisor = supervisor_for(crashes)  # type: ignore[assignment]
    sensor = OutputSensor(
        deadletter_topic=cfg.kafka.topic("deadletter"),
        alerts_topic=cfg.kafka.topic("alerts"),
        prefix=cfg.kafka.topic_prefix,
    )
    app.sensors.add(sensor)
    judge = HealthJudge(policy)

    def counts() -> dict[str, StageCounts]:
        return health_input(stage_counts(registered_guards(app)))

    def health() -> Health:
        return judge.evaluate(
            time.time(),
            counts(),
            crashes.dead_agents(stopping=bool(app.should_stop)),
            crashes.recent,
        )

    judge.sample(time.time(), counts())  # the start-up baseline
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(app, sensor, crashes, health))
    app.toka_registry = registry  # type: ignore[attr-defined]

    @app.page("/metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        # aiohttp refuses a charset in content_type=, so the header is set whole.
        body = generate_latest(registry)
        return Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})  # type: ignore[return-value]

    @app.page("/healthz")
    async def healthz(self: web.View, request: web.Request) -> web.Response:
        verdict = health()
        body = {**verdict.as_json(), "agent_crashes": dict(crashes.crashes),
                "last_crash": crashes.last_reason}  # fmt: skip
        return self.json(body, status=200 if verdict.ok else 503)

    @app.page("/readyz")
    async def readyz(self: web.View, request: web.Request) -> web.Response:
        recovered = cast(Any, app.tables).recovery.completed.is_set()  # set by the first recovery
        ready = bool(app.started) and recovered and not app.rebalancing and not app.should_stop
        return self.json({"ready": ready}, status=200 if ready else 503)

    # Requests only read the samples: their cost does not depend on how many came before.
    @app.timer(interval=HEALTH_TICK_SECONDS, name="toka-web-health")
    async def sample_health() -> None:
        judge.sample(time.time(), counts())
