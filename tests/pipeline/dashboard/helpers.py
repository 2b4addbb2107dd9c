"""Records for dashboard tests, shaped as the worker emits them."""

from __future__ import annotations

import time

from schemas.analytics import CapacityForecast, ForecastPoint, Regression, SummaryStats
from schemas.records import ZERO_TIME, Alert, WindowAggregate, new_id

__all__ = ["aggregate", "alert", "capacity", "regression"]


def aggregate(
    host: str, name: str, end: float, value: float, *, width: float = 10.0,
    labels: dict[str, str] | None = None, **extra: object,
) -> WindowAggregate:  # fmt: skip
    labels = labels or {}
    series = f"{host}|{name}|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return WindowAggregate(
        id=new_id(), series=series, name=name, host=host, window_start=end - width,
        window_end=end, count=2, sum=2 * value, min=value, max=value, mean=value, last=value,
        labels=labels, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def alert(host: str, status: str = "firing", severity: str = "critical",
          name: str = "HostCpuHigh", value: float = 95.0) -> Alert:  # fmt: skip
    fingerprint = f"{name}-{host}"
    return Alert(
        id=new_id(), status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "severity": severity, "host": host},
        annotations={"summary": f"CPU on {host} at {value:g}%"},
        startsAt="2026-01-01T00:00:00Z",
        endsAt=ZERO_TIME if status == "firing" else "2026-01-01T00:05:00Z",
        fingerprint=fingerprint, rule=name, value=value, threshold=85.0,
    )  # fmt: skip


def regression(subject: str = "h1|latency|") -> Regression:
    stats = SummaryStats(n=30, mean=10.0, p50=10.0, p95=12.0)
    worse = SummaryStats(n=30, mean=15.0, p50=15.0, p95=18.0)
    return Regression(
        id=new_id(), ts=time.time(), kind="series", subject=subject, field="mean",
        direction="regression", baseline=stats, current=worse, change_percent=50.0,
        p_value=0.001, effect_size=2.0, method="mann_whitney", severity="major",
        baseline_version="", baseline_id="b1", host="h1", name="latency",
    )  # fmt: skip


def capacity(host: str = "h1", name: str = "system_disk_used_percent") -> CapacityForecast:
    now = time.time()
    return CapacityForecast(
        id=new_id(), ts=now, series=f"{host}|{name}|", name=name, as_of=now, model="linear",
        fit_metric="mape", fit_score=0.05, current_value=60.0,
        forecasts=[ForecastPoint(horizon_days=d, value=60 + d / 3, lower=55 + d / 4,
                                 upper=65 + d / 2) for d in (30, 60, 90)],  # fmt: skip
        growth_pattern="linear", recommendation="plan", history_points=500,
        history_days=7.0, horizon_limit_days=365, host=host, capacity=100.0,
        warning_threshold=80.0, critical_threshold=90.0,
        time_to_warning_seconds=60 * 86400.0, time_to_critical_seconds=90 * 86400.0,
    )  # fmt: skip
