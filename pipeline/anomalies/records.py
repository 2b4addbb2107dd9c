"""Anomaly records from scores and leak verdicts. Pure."""

from __future__ import annotations

import time

from pipeline.anomalies.leak import LeakVerdict
from pipeline.anomalies.scoring import Score
from schemas.analytics import Anomaly
from schemas.records import WindowAggregate, new_id

__all__ = ["leak_anomaly", "score_anomaly"]


def _severity(score: float, threshold: float) -> str:
    s = abs(score)
    return "critical" if s >= 3 * threshold else "major" if s >= 1.5 * threshold else "minor"


def score_anomaly(
    agg: WindowAggregate, field: str, value: float, sc: Score, *, threshold: float,
    now: float | None = None,
) -> Anomaly:  # fmt: skip
    return Anomaly(
        id=new_id(),
        ts=time.time() if now is None else now,
        series=agg.series,
        name=agg.name,
        host=agg.host,
        labels=dict(agg.labels),
        field=field,
        kind="spike" if sc.score > 0 else "dip",
        method=sc.method,  # type: ignore[arg-type]
        observed=value,
        expected=sc.expected,
        lower=sc.lower,
        upper=sc.upper,
        score=round(sc.score, 3),
        severity=_severity(sc.score, threshold),  # type: ignore[arg-type]
        window_end=agg.window_end,
    )


def leak_anomaly(agg: WindowAggregate, v: LeakVerdict, now: float | None = None) -> Anomaly:
    tte = v.time_to_exhaustion_s
    severity = "critical" if tte is not None and tte < 86400 else "major"
    return Anomaly(
        id=new_id(),
        ts=time.time() if now is None else now,
        series=agg.series,
        name=agg.name,
        host=agg.host,
        labels=dict(agg.labels),
        field="mean",
        kind="leak_suspect",
        method="leak",
        observed=v.current,
        expected=v.start_value,
        lower=0.0,
        upper=v.start_value,
        score=round(v.rho, 4),
        severity=severity,  # type: ignore[arg-type]
        growth_per_hour=v.growth_per_hour,
        time_to_exhaustion_seconds=None if tte is None else round(tte, 1),
        window_end=agg.window_end,
    )
