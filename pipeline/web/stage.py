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

from aiohttp.web import Response
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pipeline.runtime.context import StageContext
from pipeline.runtime.progress import Stall
from pipeline.web.collector import WorkerCollector, fetched_offsets, health_input, stage_counts
from pipeline.web.health import Health, HealthJudge, HealthPolicy, StageCounts
from pipeline.web.security import guard_worker_web
from pipeline.web.sensor import OutputSensor
from pipeline.web.supervision import CrashLog, supervisor_for

__all__ = ["install"]

#: How often the stage counts are sampled for the health history (the error window).
HEALTH_TICK_SECONDS = 5.0


def install(
    ctx: StageContext,
    policy: HealthPolicy | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """``registry``: where the worker's metrics go (default: a new one for this app);
    /metrics serves all of it, so a caller may add collectors of its own."""
    app, cfg = ctx.app, ctx.cfg
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
        return health_input(stage_counts(ctx.guards))

    stalls: list[Stall] = []  # as of the last sample

    def health() -> Health:
        now = time.time()
        verdict = judge.evaluate(
            now, counts(), crashes.dead_agents(stopping=bool(app.should_stop)), crashes.recent
        )
        if not stalls:
            return verdict
        return Health(False, [*verdict.problems, *(s.describe(now) for s in stalls)])

    def sample(now: float) -> None:
        judge.sample(now, counts())
        # Checked on the timer, not per request: a stall is counted whoever asks.
        stalls[:] = ctx.progress.stalled(fetched_offsets(app), now)

    sample(time.time())  # the start-up baseline
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
    registry.register(
        WorkerCollector(app, ctx.guards, sensor, crashes, health, progress=ctx.progress)
    )
    ctx.services["registry"] = registry
    guard_worker_web(app, cfg, registry)

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
        sample(time.time())
