"""The blocks carried over from the seed: performance, monitoring, dashboard."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.config.base import Block

__all__ = ["DashboardConfig", "MonitoringConfig", "PerformanceConfig", "Thresholds"]


class PerformanceConfig(Block):
    metrics_enabled: bool = True
    tracing_enabled: bool = True
    monitoring_enabled: bool = True
    profiling_enabled: bool = False
    benchmarking_enabled: bool = True
    regression_detection_enabled: bool = True
    anomaly_detection_enabled: bool = True
    capacity_planning_enabled: bool = True
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
    interval_seconds: float = Field(10.0, gt=0)
    thresholds: Thresholds = Thresholds()
    history_retention_minutes: int = Field(60, ge=1)


class DashboardConfig(Block):
    enabled: bool = True
    refresh_interval_seconds: float = Field(5.0, gt=0)
    max_data_points: int = Field(360, ge=1)
    theme: Literal["dark", "light"] = "dark"
    widgets: list[str] = Field(
        default_factory=lambda: ["cpu", "memory", "disk", "network", "alerts"]
    )
