"""The specification's blocks: performance, monitoring, dashboard.

Pasted verbatim from the specification they load and mean what they say. Switches that
repeat a key of another block are aliases of it (``schemas.config.aliases``): the README's
configuration section lists what each ``*_enabled`` switch turns off.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.config.base import Block

__all__ = [
    "SEED_METRIC_NAMES",
    "DashboardConfig",
    "MonitoringConfig",
    "PerformanceConfig",
    "Thresholds",
    "Widget",
]


class PerformanceConfig(Block):
    """Feature switches. Readers: metrics_enabled (agent sources and OTLP metrics, the
    worker's windows stage), tracing_enabled (agent OTLP traces, the worker's spans stage),
    benchmarking_enabled (``toka bench``), profiling_enabled (the agent's profiling
    sessions, see ``profiling_enabled``), tracing_sample_rate (the agent's trace sampler).
    The other keys are aliases (see schemas.config.aliases)."""

    metrics_enabled: bool = True
    tracing_enabled: bool = True
    #: alias of monitoring.enabled
    monitoring_enabled: bool = True
    #: Profiling sessions (CPU and memory) started through ``toka.profile-commands``: the
    #: agent answers them only when this is true. Off by default: a profiler is something
    #: an operator turns on deliberately.
    profiling_enabled: bool = False
    benchmarking_enabled: bool = True
    #: alias of analytics.regressions.enabled
    regression_detection_enabled: bool = True
    #: alias of dashboard.enabled
    dashboard_enabled: bool = True
    #: alias of agent.interval_seconds
    metrics_interval_seconds: float = Field(10.0, gt=0)
    tracing_sample_rate: float = Field(1.0, ge=0, le=1)


class Thresholds(Block):
    cpu_warning_percent: float = Field(70.0, ge=0, le=100)
    cpu_critical_percent: float = Field(85.0, ge=0, le=100)
    memory_warning_percent: float = Field(75.0, ge=0, le=100)
    memory_critical_percent: float = Field(90.0, ge=0, le=100)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Thresholds:
        for res in ("cpu", "memory"):
            if getattr(self, f"{res}_warning_percent") >= getattr(self, f"{res}_critical_percent"):
                raise ValueError(f"{res}_warning_percent must be below {res}_critical_percent")
        return self


class MonitoringConfig(Block):
    #: Threshold alerting: false and the worker evaluates no rules (nothing on toka.alerts).
    enabled: bool = True
    #: alias of agent.interval_seconds
    interval_seconds: float = Field(10.0, gt=0)
    #: The built-in rules' thresholds (used when pipeline.rules_file is null).
    thresholds: Thresholds = Thresholds()
    #: How much history the dashboard keeps and shows (its charts' time range).
    history_retention_minutes: int = Field(60, ge=1)


#: The specification's metric names and the series the agent publishes for them.
SEED_METRIC_NAMES: dict[str, str] = {
    "cpu_usage_percent": "system_cpu_percent",
    "memory_usage_percent": "system_memory_percent",
    "disk_usage_percent": "system_disk_used_percent",
    "swap_usage_percent": "system_swap_percent",
}


class Widget(Block):
    """One dashboard widget: ``{id, type, metric_name}`` as the specification writes it."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["gauge", "line", "stat", "bar"]
    #: A series name; the specification's names (cpu_usage_percent...) are accepted too.
    metric_name: str = Field(min_length=1)
    title: str | None = None

    @property
    def series(self) -> str:
        """The series the widget shows (a specification name resolved to ours)."""
        return SEED_METRIC_NAMES.get(self.metric_name, self.metric_name)


def _default_widgets() -> list[Widget]:
    return [
        Widget(id="cpu_usage", type="gauge", metric_name="system_cpu_percent"),
        Widget(id="memory_usage", type="gauge", metric_name="system_memory_percent"),
        Widget(id="disk_usage", type="gauge", metric_name="system_disk_used_percent"),
        Widget(id="network_receive", type="line", metric_name="system_network_receive_bytes_total"),
    ]


class DashboardConfig(Block):
    """The dashboard service (``toka dashboard``; ``toka up`` starts it when enabled)."""

    enabled: bool = True
    refresh_interval_seconds: float = Field(5.0, gt=0)
    max_data_points: int = Field(360, ge=1)
    theme: Literal["dark", "light"] = "dark"
    widgets: list[Widget] = Field(default_factory=_default_widgets)

    @model_validator(mode="after")
    def _unique_ids(self) -> DashboardConfig:
        ids = [w.id for w in self.widgets]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"widget ids must be unique (repeated: {', '.join(dupes)})")
        return self
