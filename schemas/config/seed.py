"""The specification's blocks: performance, monitoring, dashboard.

Pasted verbatim from the specification they load and mean what they say. Switches that
repeat a key of another block are aliases of it (``schemas.config.aliases``): the README's
configuration section lists what each ``*_enabled`` switch turns off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from schemas.config.base import Block
from schemas.config.endpoint import EndpointSecurity

__all__ = [
    "WIDGET_SHORTCUTS",
    "DashboardAuth",
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
    sessions and the worker's profiles stage, see ``profiling_enabled``),
    tracing_sample_rate (the agent's trace sampler).
    The other keys are aliases (see schemas.config.aliases)."""

    metrics_enabled: bool = True
    tracing_enabled: bool = True
    #: alias of monitoring.enabled
    monitoring_enabled: bool = True
    #: Profiling sessions (``toka profile start``): the agent refuses them unless this is
    #: true (read by agents/profiling); the worker runs the profiles stage (findings from
    #: reports, pipeline.profiles) only when it is true in the worker's configuration.
    #: Off by default: a profiler is something an operator turns on deliberately.
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


WidgetType = Literal["line", "bar", "gauge", "counter", "table", "heatmap"]


class Widget(Block):
    """One widget of the dashboard's configurable page, as the specification writes it:
    ``- id: cpu_usage / type: gauge / metric_name: cpu_usage_percent``. The
    specification's metric names are mapped to ours (pipeline/dashboard/widgets.py)."""

    id: str = Field(min_length=1)
    type: WidgetType
    metric_name: str = Field(min_length=1)
    title: str | None = None
    #: One host only (None: every host, one line or cell per host).
    host: str | None = None
    #: The aggregate field drawn (counters: ``rate``).
    field: Literal["mean", "max", "min", "last", "sum", "count", "rate", "p50", "p95", "p99"] = (
        "mean"
    )


#: Shortcuts accepted in ``dashboard.widgets`` (pipeline/dashboard/widgets.py draws them).
WIDGET_SHORTCUTS = ("cpu", "memory", "disk", "network", "alerts")


def _default_widgets() -> list[Widget | str]:
    return [
        Widget(id="cpu_usage", type="gauge", metric_name="cpu_usage_percent"),
        Widget(id="memory_usage", type="line", metric_name="memory_usage_percent"),
        Widget(id="disk", type="bar", metric_name="system_disk_used_percent", field="max"),
        Widget(
            id="network",
            type="heatmap",
            metric_name="system_network_receive_bytes_total",
            field="rate",
        ),  # fmt: skip
        "alerts",
    ]


class DashboardAuth(Block):
    """Who may use the dashboard and API. No token at all: loopback clients only."""

    #: A YAML or JSON file mapping token -> {name, role}; role viewer, operator or admin.
    tokens_file: Path | None = None
    #: Seconds a browser session cookie lives.
    session_seconds: float = Field(8 * 3600.0, gt=0)
    #: Requests per second per client address (and per token), burst twice that; 0: no limit.
    rate_limit_per_second: float = Field(50.0, ge=0)
    #: The audit log (JSON lines); the same records go to the ``audit`` topic.
    audit_file: Path = Path(".toka/dashboard/audit.jsonl")


class DashboardConfig(Block):
    """The dashboard service (``toka dashboard``; ``toka up`` starts it when enabled)."""

    enabled: bool = True
    refresh_interval_seconds: float = Field(5.0, gt=0)
    max_data_points: int = Field(360, ge=1)
    theme: Literal["dark", "light"] = "dark"
    #: The configurable page: widgets as the specification writes them, or the shortcuts
    #: cpu, memory, disk, network, alerts.
    widgets: list[Widget | str] = Field(default_factory=_default_widgets)
    #: Where ``toka dashboard`` serves the web UI and the API.
    bind: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    #: This replica's name: its consumer group is ``<app_id>-dashboard-<replica>``
    #: (empty: the machine's host name). Every replica keeps a history of its own.
    replica: str = ""
    #: The DuckDB history file; a corrupt file is moved aside and rebuilt from Kafka.
    history_file: Path = Path(".toka/dashboard/history.duckdb")
    #: Retention of the 1-minute and 1-hour rollups (raw windows: monitoring.
    #: history_retention_minutes) and of alerts and findings.
    minute_rollup_retention_hours: float = Field(7 * 24.0, gt=0)
    hour_rollup_retention_days: float = Field(90.0, gt=0)
    findings_retention_days: float = Field(30.0, gt=0)
    #: Size bound of the history file: above it the oldest rows go first (counted).
    max_history_mb: float = Field(2048.0, gt=0)
    auth: DashboardAuth = DashboardAuth()
    #: The HTTP security layer every listener shares (agents.endpoint): connection cap,
    #: read and idle timeouts, body size, per-client rate limit, TLS. Its single bearer
    #: token is not used here: ``auth`` gives tokens with roles.
    security: EndpointSecurity = EndpointSecurity()

    @model_validator(mode="after")
    def _known_shortcuts(self) -> DashboardConfig:
        for entry in self.widgets:
            if isinstance(entry, str) and entry not in WIDGET_SHORTCUTS:
                names = ", ".join(WIDGET_SHORTCUTS)
                raise ValueError(f"widgets: unknown shortcut {entry!r} (one of {names}, "
                                 "or a widget mapping)")  # fmt: skip
        return self
