"""Findings from profile reports. Pure: plain data in, ProfileFinding records out.

- bottleneck: a function whose self time holds at least ``bottleneck_share`` of the
  session's samples;
- became_hot: a function holding at least ``hot_min_share`` now and at least ``hot_ratio``
  times its share in the last CPU session of the same service (``after_deploy`` when that
  session ran another version);
- leak_suspect: an allocation site that grew in at least ``leak_growing_fraction`` of the
  intervals between ``leak_min_snapshots`` or more snapshots, by ``leak_min_growth_bytes``
  or more; without allocation sites (no SDK), the process's RSS under the same test.

Functions are compared by name and file, not line: a deploy that moves a function keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.profiles import FunctionTime, ProfileFinding, ProfileReport
from schemas.records import new_id

if TYPE_CHECKING:
    from schemas.config.profiling import ProfileAnalysisConfig

__all__ = [
    "ProfileBaselines",
    "ServiceBaseline",
    "analyse",
    "baseline_key",
    "became_hot",
    "bottlenecks",
    "leak_suspects",
]

#: Functions kept per service baseline (the rest count as share 0 next time).
_BASELINE_FUNCTIONS = 200


class ServiceBaseline(msgspec.Struct):
    session: str
    version: str
    ts: float
    shares: dict[str, float]


@dataclass(slots=True)
class ProfileBaselines:
    """The last CPU session's self-time shares per service (host-independent)."""

    services: dict[str, ServiceBaseline] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {"services": msgspec.to_builtins(self.services)}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> ProfileBaselines:
        return cls(msgspec.convert(data.get("services", {}), dict[str, ServiceBaseline]))


def analyse(
    state: ProfileBaselines, report: ProfileReport, settings: ProfileAnalysisConfig
) -> list[ProfileFinding]:
    """All findings of one report; a CPU report then becomes its service's baseline."""
    findings = bottlenecks(report, settings) + leak_suspects(report, settings)
    if report.kind == "cpu" and report.samples:
        service = baseline_key(report)
        findings += became_hot(report, state.services.get(service), settings)
        state.services[service] = ServiceBaseline(
            session=report.session, version=report.version, ts=report.ts,
            shares={_key(f): f.self_share for f in report.functions[:_BASELINE_FUNCTIONS]},
        )  # fmt: skip
    return findings


def baseline_key(report: ProfileReport) -> str:
    """The service; a process that named none is compared only with itself on its host."""
    return report.service or f"{report.process}@{report.host}"


def _key(function: FunctionTime) -> str:
    return f"{function.function} ({function.file})"


def _finding(report: ProfileReport, **fields: Any) -> ProfileFinding:
    return ProfileFinding(
        id=new_id(), ts=report.ts, host=report.host, session=report.session, pid=report.pid,
        service=report.service, version=report.version, **fields,
    )  # fmt: skip


def bottlenecks(report: ProfileReport, settings: ProfileAnalysisConfig) -> list[ProfileFinding]:
    out = []
    for f in report.functions:
        if f.self_share < settings.bottleneck_share:
            continue
        severity = "major" if f.self_share >= min(1.0, 2 * settings.bottleneck_share) else "minor"
        out.append(
            _finding(
                report,
                kind="bottleneck",
                subject=_key(f),
                severity=severity,
                share=f.self_share,
                summary=f"{f.function} ({f.file}:{f.line}) holds {f.self_share:.0%} of CPU samples "
                f"({f.self_samples} of {report.samples})",
            )  # fmt: skip
        )
    return out


def became_hot(
    report: ProfileReport, baseline: ServiceBaseline | None, settings: ProfileAnalysisConfig
) -> list[ProfileFinding]:
    if baseline is None:
        return []
    deploy = bool(baseline.version and report.version and baseline.version != report.version)
    out = []
    for f in report.functions:
        before = baseline.shares.get(_key(f), 0.0)
        if f.self_share < settings.hot_min_share or f.self_share < settings.hot_ratio * before:
            continue
        since = f"version {baseline.version} -> {report.version}" if deploy else "the last session"
        out.append(
            _finding(
                report,
                kind="became_hot",
                subject=_key(f),
                severity="major" if deploy else "minor",
                share=f.self_share,
                baseline_share=before,
                baseline_session=baseline.session,
                baseline_version=baseline.version,
                after_deploy=deploy,
                summary=f"{f.function} ({f.file}) rose from {before:.0%} to {f.self_share:.0%} of "
                f"CPU samples since {since}",
            )  # fmt: skip
        )
    return out


def _growing(sizes: list[int], settings: ProfileAnalysisConfig) -> bool:
    if len(sizes) < settings.leak_min_snapshots:
        return False
    steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
    up = sum(1 for step in steps if step > 0)
    return (
        up >= settings.leak_growing_fraction * len(steps)
        and sizes[-1] - sizes[0] >= settings.leak_min_growth_bytes
    )


def _per_hour(growth: int, report: ProfileReport, snapshots: int) -> float | None:
    if len(report.rss_ts) == snapshots and snapshots > 1:
        span = report.rss_ts[-1] - report.rss_ts[0]
    else:
        span = report.ended - report.started
    return growth * 3600.0 / span if span > 0 else None


def leak_suspects(report: ProfileReport, settings: ProfileAnalysisConfig) -> list[ProfileFinding]:
    out = []
    for site in report.allocations:
        if not _growing(site.sizes, settings):
            continue
        what = f"{site.site} `{site.code}`" if site.code else site.site
        out.append(
            _finding(
                report,
                kind="leak_suspect",
                subject=site.site,
                severity="major",
                growth_bytes=site.growth_bytes,
                snapshots=len(site.sizes),
                growth_per_hour=_per_hour(site.growth_bytes, report, len(site.sizes)),
                summary=f"allocations at {what} grew by {site.growth_bytes} bytes over "
                f"{len(site.sizes)} snapshots, in {_share_up(site.sizes):.0%} of the intervals",
            )  # fmt: skip
        )
    if not report.allocations and _growing(report.rss_bytes, settings):
        growth = report.rss_bytes[-1] - report.rss_bytes[0]
        out.append(
            _finding(
                report,
                kind="leak_suspect",
                subject=f"rss of {report.process} (pid {report.pid})",
                severity="minor",
                growth_bytes=growth,
                snapshots=len(report.rss_bytes),
                growth_per_hour=_per_hour(growth, report, len(report.rss_bytes)),
                summary=f"resident memory of {report.process} grew by {growth} bytes over "
                f"{len(report.rss_bytes)} readings (no allocation sites: the process did not "
                "opt in to tracemalloc snapshots)",
            )  # fmt: skip
        )
    return out


def _share_up(sizes: list[int]) -> float:
    steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
    return sum(1 for s in steps if s > 0) / len(steps) if steps else 0.0
