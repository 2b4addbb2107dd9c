"""What ``create_app`` hands every stage: the app, its config, its topics and the shared
registries, as one typed value (no attributes stashed on the Faust app).

A stage that closes windows hands them to ``window_sinks`` (the alerts stage subscribes
there: alerts run in the same process, no extra Kafka hop), and a stage that sends a
finding hands it to ``finding_sinks`` through ``found``; every stage registers its
guard in ``guards``, and the runtime counts progress in ``progress``, which the web stage
reads for /metrics and /healthz.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from schemas.config import TokaConfig
from schemas.records import WindowAggregate

__all__ = ["FindingSink", "StageContext", "Topics", "WindowSink"]

#: Called with (input partition, closed windows, now) once they are published.
WindowSink = Callable[[int, list[WindowAggregate], float], Awaitable[None]]
#: Called with (input partition, encoded finding) once a finding is sent to its topic.
FindingSink = Callable[[int, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Topics:
    metrics: Any
    spans: Any
    benchmarks: Any
    aggregates: Any
    alerts: Any
    regressions: Any
    anomalies: Any
    capacity: Any
    deadletter: Any


@dataclass
class StageContext:
    app: Any  # faust.App
    cfg: TokaConfig
    topics: Topics
    progress: Progress
    guards: list[ProcessingGuard] = field(default_factory=list)
    window_sinks: list[WindowSink] = field(default_factory=list)
    #: Regressions, anomalies and capacity forecasts, for finding rules (alerts stage).
    finding_sinks: list[FindingSink] = field(default_factory=list)
    #: Named services a stage offers others or tests (e.g. "alertmanager": its client).
    services: dict[str, Any] = field(default_factory=dict)

    async def found(self, partition: int, value: bytes) -> None:
        """Hand one sent finding to every finding sink."""
        for sink in self.finding_sinks:
            await sink(partition, value)

    def guard(self, stage: str) -> ProcessingGuard:
        """A new guard for ``stage``, listed where /metrics and /healthz read them."""
        guard = ProcessingGuard(stage)
        self.guards.append(guard)
        return guard
