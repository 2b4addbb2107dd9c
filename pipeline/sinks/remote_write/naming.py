"""What the pipeline's records become in Prometheus: names, labels, timestamps (pure).

Convention: Prometheus' own naming practice for exporters (prometheus.io/docs/practices/
naming), because that is what PromQL users and Grafana's Prometheus editor expect:
snake_case names kept from the source (their unit suffix included), ``_total`` only on
counters, no colons (reserved for users' recording rules), one name per meaning and every
dimension a label. A closed window is a summary of its samples, so its statistics take the
summary's layout: ``<name>{quantile="0.95"}``, ``<name>_sum``, ``<name>_count``, plus
``<name>_min``, ``_max``, ``_mean``, ``_last``. A counter keeps its own name with its last
value (PromQL's ``rate()`` works on it as on scraped data) and its per-second rate over the
window as ``<name without _total>_rate``. Histograms keep ``<name>_bucket{le}`` (the
window's increase per bucket), ``_sum`` and ``_count``. Every sample is stamped with the
window end and carries ``window="10s"``: windows of 10 s and 1 min end at the same
instants, and without it their samples would collide in one series.

Findings are series named ``toka_<kind>_<quantity>`` with the unit suffix Prometheus
expects (``_seconds``, ``_percent``), stamped with the finding's time. Alert state changes
become ``toka_alert_firing`` (1 firing, 0 resolved, as Prometheus' own ``ALERTS``) and
``toka_alert_value``, stamped with startsAt / endsAt; a state holds until the next change,
so dashboards read them with ``last_over_time(...[1d])``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from schemas.analytics import Anomaly, CapacityForecast, Regression
from schemas.records import Alert, WindowAggregate

__all__ = [
    "Point",
    "aggregate_points",
    "alert_points",
    "finding_points",
    "label_name",
    "metric_name",
    "window",
]

#: One sample: labels (``__name__`` included), timestamp in ms, value.
Point = tuple[dict[str, str], int, float]

_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_QUANTILES = (("p50", "0.5"), ("p90", "0.9"), ("p95", "0.95"), ("p99", "0.99"))
_STATS = ("min", "max", "mean", "last")


def metric_name(name: str) -> str:
    """A valid Prometheus name: other characters become ``_`` (as the OTel exporter does)."""
    out = _INVALID_NAME.sub("_", name).replace(":", "_")
    return f"_{out}" if out[:1].isdigit() else out


def label_name(name: str) -> str:
    """``service.version`` -> ``service_version``; a leading digit gets ``_``."""
    out = _INVALID_LABEL.sub("_", name)
    return f"_{out}" if out[:1].isdigit() or not out else out


def window(seconds: float) -> str:
    """``10s``, ``1m``, ``90s``: the ``window`` label, in Prometheus' duration notation."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{round(seconds * 1000)}ms"
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def _labels(labels: Mapping[str, str], host: str, extra: Mapping[str, str]) -> dict[str, str]:
    out = {label_name(k): v for k, v in labels.items() if v != ""}
    if host:
        out["host"] = host
    out.update(extra)
    return out


def aggregate_points(agg: WindowAggregate) -> list[Point]:
    """The samples of one closed window (see the module's convention)."""
    ts = round(agg.window_end * 1000)
    base = _labels(agg.labels, agg.host, {"window": window(agg.window_end - agg.window_start)})
    name = metric_name(agg.name)
    points: list[Point] = []

    def add(metric: str, value: float | None, **extra: str) -> None:
        if value is not None and not math.isnan(value):  # NaN carries nothing
            points.append(({**base, **extra, "__name__": metric}, ts, float(value)))

    if agg.type == "counter":
        add(name, agg.last)
        add(f"{name.removesuffix('_total')}_rate", agg.rate)
        return points
    if agg.type == "histogram" and agg.buckets is not None:
        for le, count in agg.buckets:
            add(f"{name}_bucket", count, le=_le(le))
        add(f"{name}_bucket", agg.observations, le="+Inf")
        add(f"{name}_sum", agg.observations_sum)
        add(f"{name}_count", agg.observations)
    else:
        add(f"{name}_sum", agg.sum)
        add(f"{name}_count", agg.count)
    for stat in _STATS:
        add(f"{name}_{stat}", getattr(agg, stat))
    for field, quantile in _QUANTILES:
        add(name, getattr(agg, field), quantile=quantile)
    return points


def _le(bound: float) -> str:
    return repr(float(bound)) if bound != int(bound) else f"{bound:.1f}"


def finding_points(record: Regression | Anomaly | CapacityForecast) -> list[Point]:
    """The series of one finding (regression, anomaly or leak suspect, capacity forecast)."""
    if isinstance(record, Regression):
        return _regression(record)
    if isinstance(record, Anomaly):
        return _anomaly(record)
    return _capacity(record)


def _points(ts: float, labels: dict[str, str], values: Mapping[str, float | None]) -> list[Point]:
    stamp = round(ts * 1000)
    return [
        ({**labels, "__name__": name}, stamp, float(v))
        for name, v in values.items()
        if v is not None and not math.isnan(v)
    ]


def _regression(r: Regression) -> list[Point]:
    subject = {"metric": r.name} if r.kind == "series" else {"benchmark": r.subject}
    labels = _labels(r.labels, r.host, {**subject, "field": r.field, "kind": r.kind})
    labels |= {"direction": r.direction, "method": r.method, "severity": r.severity}
    return _points(
        r.ts,
        labels,
        {
            "toka_regression_change_percent": r.change_percent,
            "toka_regression_p_value": r.p_value,
            "toka_regression_effect_size": r.effect_size,
        },
    )


def _anomaly(a: Anomaly) -> list[Point]:
    labels = _labels(a.labels, a.host, {"metric": a.name, "field": a.field, "kind": a.kind})
    labels |= {"method": a.method, "severity": a.severity}
    values: dict[str, float | None] = {
        "toka_anomaly_score": a.score,
        "toka_anomaly_observed": a.observed,
        "toka_anomaly_expected": a.expected,
        "toka_anomaly_lower": a.lower,
        "toka_anomaly_upper": a.upper,
    }
    if a.kind == "leak_suspect":
        values["toka_leak_growth_per_hour"] = a.growth_per_hour
        values["toka_leak_time_to_exhaustion_seconds"] = a.time_to_exhaustion_seconds
    return _points(a.window_end or a.ts, labels, values)


def _capacity(c: CapacityForecast) -> list[Point]:
    labels = _labels(c.labels, c.host, {"metric": c.name})
    labels |= {"model": c.model, "recommendation": c.recommendation}
    points = _points(
        c.ts,
        labels,
        {
            "toka_capacity_current": c.current_value,
            "toka_capacity_limit": c.capacity,
            "toka_capacity_time_to_warning_seconds": c.time_to_warning_seconds,
            "toka_capacity_time_to_critical_seconds": c.time_to_critical_seconds,
            "toka_capacity_fit_score": c.fit_score,
        },
    )
    for f in c.forecasts:
        horizon = {"horizon_days": str(f.horizon_days)}
        points += _points(
            c.ts,
            {**labels, **horizon},
            {
                "toka_capacity_forecast": f.value,
                "toka_capacity_forecast_lower": f.lower,
                "toka_capacity_forecast_upper": f.upper,
            },
        )
    return points


def alert_points(alert: Alert) -> list[Point]:
    """An alert state change: ``toka_alert_firing`` 1 or 0 and the value that caused it."""
    from datetime import datetime

    firing = alert.status == "firing"
    stamp = datetime.fromisoformat(
        (alert.startsAt if firing else alert.endsAt).replace("Z", "+00:00")
    )
    labels = {label_name(k): v for k, v in alert.labels.items() if v != ""}
    return _points(
        stamp.timestamp(),
        labels,
        {"toka_alert_firing": 1.0 if firing else 0.0, "toka_alert_value": alert.value},
    )
