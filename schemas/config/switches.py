"""Every ``*_enabled`` switch and what turning it off turns off: one table that
``toka config check`` prints and the README copies, so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.config import TokaConfig

__all__ = ["SWITCHES", "Switch", "disabled", "is_on"]


@dataclass(frozen=True, slots=True)
class Switch:
    key: str  # the canonical key
    aliases: tuple[str, ...]
    turns_off: str


SWITCHES: tuple[Switch, ...] = (
    Switch("performance.metrics_enabled", (),
           "the agent's metric sources (system, Prometheus scrape) and its OTLP /v1/metrics "
           "route; the worker's windows stage (toka.metrics and the Collector's otlp_metrics "
           "are not read, no metric aggregates)"),
    Switch("performance.tracing_enabled", (),
           "the agent's OTLP /v1/traces route; the worker's spans stage (no RED metrics)"),
    Switch("monitoring.enabled", ("performance.monitoring_enabled",),
           "alert rules: the worker evaluates none and writes nothing to toka.alerts"),
    Switch("analytics.regressions.enabled", ("performance.regression_detection_enabled",),
           "the regressions stage (nothing on toka.regressions)"),
    Switch("analytics.anomalies.enabled", (),
           "the anomalies stage, leak suspects included (nothing on toka.anomalies)"),
    Switch("analytics.capacity.enabled", (),
           "the capacity stage (nothing on toka.capacity)"),
    Switch("performance.benchmarking_enabled", (),
           "`toka bench` (refuses to run and says why)"),
    Switch("dashboard.enabled", ("performance.dashboard_enabled",),
           "the dashboard service: `toka up` does not start it"),
    Switch("performance.profiling_enabled", (),
           "profiling sessions: the agent refuses `toka profile start` and says why; the "
           "worker's profiles stage (no findings on toka.profiles)"),
)  # fmt: skip


def is_on(cfg: TokaConfig, key: str) -> bool:
    """The value of a switch by its dotted key."""
    node: object = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return bool(node)


def disabled(cfg: TokaConfig) -> list[Switch]:
    """The switches that are off in ``cfg``."""
    return [s for s in SWITCHES if not is_on(cfg, s.key)]
