"""Records of the analytics stages: regressions, anomalies, capacity forecasts, benchmarks.

Output records carry a unique ``id`` like every input record, so a consumer that reads
them twice (at-least-once delivery) can drop the duplicate.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "Anomaly",
    "BaselineCommand",
    "BenchmarkResult",
    "CapacityForecast",
    "ForecastPoint",
    "LatencyStats",
    "Regression",
    "SummaryStats",
]

Severity = Literal["info", "minor", "major", "critical"]


class _Record(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    pass


class SummaryStats(_Record, frozen=True):
    """A sample summarised: the baseline or the current window set."""

    n: int
    mean: float
    p50: float
    p95: float
    stdev: float = 0.0


class Regression(_Record, frozen=True, tag_field="schema", tag="toka.regression.v1"):
    """A significant and large-enough shift of a series or benchmark from its baseline.

    Key: the subject (series id or benchmark name). ``direction`` says whether the shift is
    a regression or an improvement; ``change_percent`` is signed (current vs baseline).
    """

    id: str
    ts: float
    kind: Literal["series", "benchmark"]
    subject: str
    field: str
    direction: Literal["regression", "improvement"]
    baseline: SummaryStats
    current: SummaryStats
    change_percent: float
    p_value: float
    effect_size: float
    method: str
    severity: Severity
    baseline_version: str
    baseline_id: str
    current_version: str = ""
    name: str = ""
    host: str = ""
    labels: dict[str, str] = {}


class Anomaly(_Record, frozen=True, tag_field="schema", tag="toka.anomaly.v1"):
    """An observed value outside its expected range, or a suspected memory leak.

    For ``leak_suspect``: ``growth_per_hour`` is in the series' unit (bytes/h) and
    ``time_to_exhaustion_seconds`` is until the host's memory is full at that rate
    (absent when the host's total memory is unknown). Key: series id.
    """

    id: str
    ts: float
    series: str
    name: str
    field: str
    kind: Literal["spike", "dip", "leak_suspect"]
    method: Literal["mad", "stl", "leak"]
    observed: float
    expected: float
    lower: float
    upper: float
    score: float
    severity: Severity
    host: str = ""
    labels: dict[str, str] = {}
    growth_per_hour: float | None = None
    time_to_exhaustion_seconds: float | None = None
    window_end: float | None = None


class ForecastPoint(_Record, frozen=True):
    """The forecast ``horizon_days`` after ``as_of``: mean and prediction interval (at the
    forecast's ``interval_level``)."""

    horizon_days: int
    value: float
    lower: float
    upper: float


class CapacityForecast(_Record, frozen=True, tag_field="schema", tag="toka.capacity_forecast.v1"):
    """A fitted trend of one resource series and what it means. Key: series id.

    ``fit_score`` is the hold-out error of the chosen model (``fit_metric``); times to the
    thresholds are seconds from ``as_of`` (the last observation), absent when not reached
    within ``horizon_limit_days``.

    ``regime_start`` (epoch seconds) is set when the history changed level or slope (a
    cleanup, growth that sped up) and only the history since then was fitted. When a line
    through that recent history reaches critical clearly sooner than the chosen model,
    ``earlier_time_to_critical_seconds`` says when and ``earlier_critical_model`` which
    model gave it (the recommendation then follows the earlier one). Forecast intervals
    contain the outcome with probability ``interval_level``.
    """

    id: str
    ts: float
    series: str
    name: str
    as_of: float
    model: Literal["linear", "exponential", "logarithmic", "holt_winters"]
    fit_metric: str
    fit_score: float
    current_value: float
    forecasts: list[ForecastPoint]
    growth_pattern: Literal[
        "linear", "exponential", "logarithmic", "cyclical", "stable", "declining"
    ]
    recommendation: Literal["scale_up", "optimize", "monitor", "plan"]
    history_points: int
    history_days: float
    horizon_limit_days: int
    host: str = ""
    labels: dict[str, str] = {}
    capacity: float | None = None
    warning_threshold: float | None = None
    critical_threshold: float | None = None
    time_to_warning_seconds: float | None = None
    time_to_critical_seconds: float | None = None
    candidates: dict[str, float] = {}
    regime_start: float | None = None
    earlier_time_to_critical_seconds: float | None = None
    earlier_critical_model: Literal["linear"] | None = None
    interval_level: float = 0.95


class LatencyStats(_Record, frozen=True):
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float


class BenchmarkResult(_Record, frozen=True, tag_field="schema", tag="toka.benchmark_result.v1"):
    """One ``toka bench`` run of one benchmark: ``repeats`` runs summarised. Key: benchmark.

    ``samples`` holds the per-repeat value of ``metric`` (what the regression stage tests);
    latencies are per operation in milliseconds.
    """

    id: str
    ts: float
    benchmark: str
    run_id: str
    version: str
    repeats: int
    operations: int
    metric: str
    higher_is_better: bool
    samples: list[float]
    throughput_per_s: float
    latency_ms: LatencyStats
    error_rate: float
    peak_rss_bytes: int
    duration_s: float
    environment: dict[str, str] = {}
    labels: dict[str, str] = {}


class BaselineCommand(_Record, frozen=True, tag_field="schema", tag="toka.baseline_command.v1"):
    """``toka baseline pin|unpin|reset``: sent to the regression stage. Key: subject."""

    id: str
    ts: float
    action: Literal["pin", "unpin", "reset"]
    subject: str
