"""What a regression is about: the subject of an aggregate or benchmark, its value, its
version, and the Regression record built from a Finding. Pure functions."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from pipeline.regressions.detector import DetectorParams, Finding, SeasonParams
from schemas.analytics import BenchmarkResult, Regression
from schemas.config.analytics import RegressionConfig
from schemas.records import WindowAggregate, new_id

__all__ = [
    "Watch",
    "build_regression",
    "params_for",
    "series_subject",
    "version_of",
    "watched_value",
]


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def version_of(labels: Mapping[str, str], version_labels: Iterable[str]) -> str:
    for key in version_labels:
        if labels.get(key):
            return labels[key]
    return ""


def series_subject(agg: WindowAggregate, version_labels: Iterable[str]) -> str:
    """The series id without its version labels, so v2 is compared with v1's baseline."""
    vl = set(version_labels)
    if not vl.intersection(agg.labels):
        return agg.series
    parts = [f'host="{agg.host}"'] if agg.host and "host" not in agg.labels else []
    parts.extend(f'{k}="{v}"' for k, v in sorted(agg.labels.items()) if k not in vl)
    return f"{agg.name}{{{','.join(parts)}}}"


class Watch:
    """Which aggregates and fields the stage tests, from the configuration."""

    def __init__(self, rc: RegressionConfig) -> None:
        self.rc = rc
        self._params: dict[bool, DetectorParams] = {
            hib: params_for(rc, higher_is_better=hib) for hib in (False, True)
        }
        self.season = SeasonParams(
            periods_s=tuple(rc.seasonal_periods_seconds),
            per_period=rc.seasonal_buckets_per_period,
            min_strength=rc.seasonal_min_strength,
        )
        # fnmatch per aggregate is not cheap; names are few
        self._wants: dict[str, bool] = {}
        self._better: dict[str, bool] = {}

    def params(self, name: str) -> DetectorParams:
        better = self._better.get(name)
        if better is None:
            better = self._better[name] = _matches(name, self.rc.higher_is_better)
        return self._params[better]

    def wants(self, name: str) -> bool:
        hit = self._wants.get(name)
        if hit is None:
            hit = self._wants[name] = not self.rc.series or _matches(name, self.rc.series)
        return hit


def params_for(rc: RegressionConfig, *, higher_is_better: bool) -> DetectorParams:
    return DetectorParams(
        baseline_windows=rc.baseline_windows,
        current_windows=rc.current_windows,
        policy=rc.policy,
        p_value=rc.p_value,
        min_effect_percent=rc.min_effect_percent,
        cusum_k=rc.cusum_k,
        cusum_h=rc.cusum_h,
        higher_is_better=higher_is_better,
    )


def watched_value(agg: WindowAggregate, fields: Iterable[str]) -> tuple[str, float] | None:
    """The first configured field the aggregate carries (p95 when the window has one).

    A counter's own value only ever grows: its per-second ``rate`` is what can regress.
    """
    if agg.type == "counter":
        fields = ["rate"]
    for f in fields:
        v = getattr(agg, f, None)
        if isinstance(v, int | float):
            return f, float(v)
    return None


def _severity(change_percent: float, direction: str) -> str:
    if direction == "improvement":
        return "info"
    c = abs(change_percent)
    return "critical" if c >= 50 else "major" if c >= 25 else "minor"


def build_regression(
    finding: Finding,
    *,
    kind: str,
    subject: str,
    field: str,
    name: str = "",
    host: str = "",
    labels: Mapping[str, str] | None = None,
    now: float | None = None,
) -> Regression:
    c = finding.comparison
    return Regression(
        id=new_id(),
        ts=time.time() if now is None else now,
        kind=kind,  # type: ignore[arg-type]
        subject=subject,
        field=field,
        direction=finding.direction,
        baseline=c.baseline,
        current=c.current,
        change_percent=round(c.change_percent, 3),
        p_value=c.p_value,
        effect_size=round(c.effect_size, 4),
        method=finding.method,
        severity=_severity(c.change_percent, finding.direction),  # type: ignore[arg-type]
        baseline_version=finding.baseline_version,
        baseline_id=finding.baseline_id,
        current_version=finding.current_version,
        name=name,
        host=host,
        labels=dict(labels or {}),
    )


def benchmark_subject(result: BenchmarkResult) -> str:
    return f"bench:{result.benchmark}"
