"""Settings of the analytics stages: regressions, anomalies, capacity, benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from schemas.config.base import Block
from schemas.config.commands import CommandTrust
from schemas.config.profiling import ProfileAnalysisConfig

__all__ = [
    "AnalyticsConfig",
    "AnomalyConfig",
    "BenchConfig",
    "CapacityConfig",
    "RegressionConfig",
    "UserBenchmark",
]


class RegressionConfig(Block):
    enabled: bool = True
    #: Aggregate fields tested, first present wins (p95 latency when the window has it).
    fields: list[str] = Field(default_factory=lambda: ["p95", "mean"], min_length=1)
    #: Series names (fnmatch patterns) to watch; empty = every series. The default is
    #: what a deploy regresses (latency, duration, throughput), not every host gauge.
    series: list[str] = Field(
        default_factory=lambda: [
            "*duration*", "*latency*", "*_seconds", "*_ms", "*throughput*", "*_per_second*",
        ]
    )  # fmt: skip
    #: Names where a rise is good (throughput); elsewhere a rise is a regression.
    higher_is_better: list[str] = Field(
        default_factory=lambda: ["*throughput*", "*_ops*", "*requests_per*", "*hit_ratio*"]
    )
    baseline_windows: int = Field(60, ge=5)
    current_windows: int = Field(5, ge=2)
    policy: Literal["rolling", "pinned"] = "rolling"
    version_labels: list[str] = Field(
        default_factory=lambda: ["service.version", "version", "deploy"]
    )
    p_value: float = Field(0.001, gt=0, lt=1)
    min_effect_percent: float = Field(10.0, gt=0)
    #: CUSUM for slow drifts: slack and decision threshold in baseline standard deviations.
    cusum_k: float = Field(0.5, gt=0)
    cusum_h: float = Field(12.0, gt=0)
    #: Cycles removed before testing (learned by STL after two of them); [] turns it off.
    seasonal_periods_seconds: list[float] = Field(default_factory=lambda: [86400.0])
    seasonal_buckets_per_period: int = Field(48, ge=8)
    seasonal_min_strength: float = Field(0.6, ge=0, le=1)
    #: What this worker obeys from the baseline-commands topic (``toka baseline``): its own
    #: word on remote commands; Kafka ACLs decide who may write the topic (README).
    commands: CommandTrust = CommandTrust()


class AnomalyConfig(Block):
    enabled: bool = True
    #: Fields scored on gauges and histograms (absent ones are skipped); counters are
    #: always scored on their rate.
    fields: list[str] = Field(default_factory=lambda: ["mean", "p95"], min_length=1)
    series: list[str] = Field(default_factory=list)
    history_windows: int = Field(60, ge=10)
    min_history: int = Field(20, ge=5)
    threshold: float = Field(6.0, gt=0)
    #: Seasonal decomposition: cycle length and resolution of the history kept for STL.
    seasonal_periods_seconds: list[float] = Field(default_factory=lambda: [86400.0])
    seasonal_buckets_per_period: int = Field(48, ge=8)
    seasonal_min_strength: float = Field(0.6, ge=0, le=1)
    leak_series: str = "process_resident_memory_bytes"
    host_memory_total_series: str = "system_memory_total_bytes"
    leak_bucket_seconds: float = Field(300.0, gt=0)
    leak_min_hours: float = Field(2.0, gt=0)
    leak_min_growth_percent: float = Field(10.0, gt=0)
    leak_cooldown_hours: float = Field(6.0, ge=0)


def _default_capacity_series() -> dict[str, str | None]:
    return {
        "system_disk_used_bytes": "system_disk_total_bytes",
        "system_memory_used_bytes": "system_memory_total_bytes",
    }


class CapacityConfig(Block):
    enabled: bool = True
    #: Resource series and the series of their totals (thresholds are a share of it).
    series: dict[str, str | None] = Field(default_factory=_default_capacity_series)
    bucket_seconds: float = Field(300.0, gt=0)
    retention_days: float = Field(90.0, gt=0)
    refit_interval_seconds: float = Field(3600.0, gt=0)
    min_history_hours: float = Field(6.0, gt=0)
    warning_percent: float = Field(80.0, gt=0, le=100)
    critical_percent: float = Field(90.0, gt=0, le=100)
    horizon_limit_days: int = Field(365, ge=90)
    scale_up_days: float = Field(7.0, gt=0)
    plan_days: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> CapacityConfig:
        if self.warning_percent >= self.critical_percent:
            raise ValueError("warning_percent must be below critical_percent")
        return self


class UserBenchmark(Block):
    """A user-defined benchmark: a shell command (judged on its p50 run time) or a Python
    callable ``module:function`` returning its operation count (judged on throughput)."""

    name: str = Field(min_length=1)
    command: str | None = None
    callable: str | None = None
    iterations: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> UserBenchmark:
        if (self.command is None) == (self.callable is None):
            raise ValueError("give exactly one of command or callable")
        return self


class BenchConfig(Block):
    repeats: int = Field(5, ge=2)
    warmup: int = Field(1, ge=0)
    baseline_file: Path = Path(".toka/bench-baselines.json")
    min_effect_percent: float = Field(10.0, gt=0)
    p_value: float = Field(0.05, gt=0, lt=1)
    benchmarks: list[UserBenchmark] = Field(default_factory=list)


class AnalyticsConfig(Block):
    #: Detector state is kept in memory and written to its changelogged table this often
    #: (and before every finding, rebalance and clean stop); input offsets are committed
    #: only behind it, so a killed worker loses nothing, its successor replays at most this
    #: much input. Longer: fewer changelog bytes (one snapshot per series per flush).
    state_flush_seconds: float = Field(60.0, gt=0)
    #: The window size (one of pipeline.window_seconds) the analytics read; none = the
    #: largest. One size per series keeps a baseline of like windows; alerts use every size.
    window_seconds: float | None = Field(None, gt=0)
    #: A series' regression and anomaly state unused this long is dropped (its memory and
    #: its table entry): a host gone for good must not cost state forever.
    state_idle_hours: float = Field(168.0, gt=0)
    regressions: RegressionConfig = RegressionConfig()
    anomalies: AnomalyConfig = AnomalyConfig()
    capacity: CapacityConfig = CapacityConfig()
    bench: BenchConfig = BenchConfig()
    profiles: ProfileAnalysisConfig = ProfileAnalysisConfig()
