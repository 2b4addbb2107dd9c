"""What ``toka profile list|show`` (and the dashboard) make of ``toka.profiles``. Pure.

Records of one session share its id; the latest status decides its state, and its raw
profile is its chunks joined in index order once all of them are there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.profiles import ProfileChunk, ProfileFinding, ProfileReport, ProfileStatus

__all__ = ["SessionView", "raw_profile", "sessions"]


@dataclass(slots=True)
class SessionView:
    session: str
    host: str
    pid: int = 0
    kind: str = ""
    process: str = ""
    state: str = ""
    reason: str = ""
    requested_by: str = ""
    first_ts: float = 0.0
    last_ts: float = 0.0
    duration_seconds: float = 0.0
    report: ProfileReport | None = None
    chunks: dict[int, ProfileChunk] = field(default_factory=dict)
    findings: list[ProfileFinding] = field(default_factory=list)


def sessions(records: list[Any]) -> dict[str, SessionView]:
    """Session id -> its view, in order of first appearance."""
    views: dict[str, SessionView] = {}
    for record in records:
        if not isinstance(record, ProfileStatus | ProfileReport | ProfileChunk | ProfileFinding):
            continue
        view = views.get(record.session)
        if view is None:
            view = views[record.session] = SessionView(record.session, record.host,
                                                       first_ts=record.ts)  # fmt: skip
        view.last_ts = max(view.last_ts, record.ts)
        if isinstance(record, ProfileStatus):
            # one host's records share a partition: the last one read is the latest
            view.state, view.reason = record.state, record.reason
            view.pid, view.kind = record.pid or view.pid, record.kind
            view.process = record.process or view.process
            view.requested_by = record.requested_by or view.requested_by
            view.duration_seconds = record.duration_seconds or view.duration_seconds
        elif isinstance(record, ProfileReport):
            view.report = record
        elif isinstance(record, ProfileChunk):
            view.chunks[record.index] = record
        else:
            view.findings.append(record)
    return views


def raw_profile(view: SessionView) -> str | None:
    """The session's collapsed stacks, or None while chunks are missing."""
    if view.report is None or len(view.chunks) != view.report.raw_chunks:
        return None
    return "".join(view.chunks[i].data for i in range(view.report.raw_chunks))
