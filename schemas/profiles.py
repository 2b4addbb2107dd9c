"""Records of profiling sessions: commands, status, reports, raw profile chunks, findings.

All travel keyed by host: commands on ``toka.profile-commands``, everything else on
``toka.profiles``. A session's id is the id of the ``start`` command that asked for it, so
the command, its status records, its report and its chunks all carry the same ``session``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "AllocationSite",
    "FunctionTime",
    "HotPath",
    "ProfileChunk",
    "ProfileCommand",
    "ProfileFinding",
    "ProfileReport",
    "ProfileStatus",
    "SessionOverhead",
]

ProfileKind = Literal["cpu", "memory"]
SessionState = Literal["accepted", "refused", "running", "done", "failed", "stopped"]
Severity = Literal["info", "minor", "major", "critical"]


class _Record(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    pass


class ProfileCommand(_Record, frozen=True, tag_field="schema", tag="toka.profile_command.v1"):
    """``toka profile start|stop``: a request to the agent on ``host``. Key: host.

    The agent acts on it only before ``expires_at`` (unix seconds) and only if its own
    configuration allows it. ``session`` names the session a ``stop`` ends (the id of its
    ``start`` command); ``rate_hz`` 0 means the agent's default rate.
    """

    id: str
    ts: float
    host: str
    action: Literal["start", "stop"]
    expires_at: float
    session: str = ""
    pid: int = 0
    kind: ProfileKind = "cpu"
    duration_seconds: float = 60.0
    rate_hz: int = 0
    requested_by: str = ""


class ProfileStatus(_Record, frozen=True, tag_field="schema", tag="toka.profile_status.v1"):
    """A session's state change, from the agent. Key: host.

    ``refused`` and ``failed`` carry the reason; ``process`` is the target's name.
    """

    id: str
    ts: float
    host: str
    session: str
    state: SessionState
    reason: str = ""
    pid: int = 0
    kind: ProfileKind = "cpu"
    process: str = ""
    duration_seconds: float = 0.0
    rate_hz: int = 0
    requested_by: str = ""


class FunctionTime(_Record, frozen=True):
    """One function's share of the CPU samples: ``self`` where it was the innermost frame,
    ``total`` where it was anywhere on the stack (counted once per stack)."""

    function: str
    file: str
    line: int
    self_samples: int
    total_samples: int
    self_share: float
    total_share: float


class HotPath(_Record, frozen=True):
    """One whole stack, outermost frame first, and its share of the samples."""

    frames: list[str]
    samples: int
    share: float


class AllocationSite(_Record, frozen=True):
    """Memory held by allocations from one source line, at each tracemalloc snapshot.

    ``sizes`` and ``counts`` have one entry per snapshot of the session (0 where the site
    held nothing or too little to be listed); ``growth_bytes`` is last minus first; ``code``
    is the source line, which usually names what grows.
    """

    site: str
    sizes: list[int]
    counts: list[int]
    growth_bytes: int
    code: str = ""


class SessionOverhead(_Record, frozen=True):
    """What the session itself cost: the profiler process's CPU and memory, and how many
    samples it took or lost. ``cpu_percent`` is of one core over the session's wall time."""

    cpu_seconds: float
    cpu_percent: float
    max_rss_bytes: int
    samples: int = 0
    sample_errors: int = 0
    blocking: bool = True


class ProfileReport(_Record, frozen=True, tag_field="schema", tag="toka.profile_report.v1"):
    """What one profiling session found. Key: host.

    CPU sessions fill ``functions`` and ``hot_paths``; memory sessions fill ``rss_bytes``
    (one reading per snapshot interval, at ``rss_ts``) and, when the target opted in through
    the SDK helper (agents.profiling.sdk), ``allocations`` over ``snapshots`` tracemalloc
    snapshots. The raw profile (collapsed stacks, as flamegraph.pl, speedscope and
    d3-flame-graph read them) follows in ``raw_chunks`` ProfileChunk records; samples of
    stacks left out to bound its size are counted in ``raw_omitted_samples``.
    ``service`` and ``version`` come from the SDK helper when the process opted in, else
    from the OpenTelemetry variables of its environment; empty when neither says.
    Command lines and file paths are redacted by the agent's rules.
    """

    id: str
    ts: float
    host: str
    session: str
    pid: int
    kind: ProfileKind
    started: float
    ended: float
    process: str = ""
    command: str = ""
    service: str = ""
    version: str = ""
    rate_hz: int = 0
    samples: int = 0
    functions: list[FunctionTime] = []
    hot_paths: list[HotPath] = []
    allocations: list[AllocationSite] = []
    snapshots: int = 0
    rss_bytes: list[int] = []
    rss_ts: list[float] = []
    rss_growth_bytes: int = 0
    overhead: SessionOverhead | None = None
    raw_format: Literal["collapsed", ""] = ""
    raw_chunks: int = 0
    raw_bytes: int = 0
    raw_omitted_samples: int = 0
    notes: list[str] = []


class ProfileChunk(_Record, frozen=True, tag_field="schema", tag="toka.profile_chunk.v1"):
    """Part ``index`` of ``count`` of a session's raw profile text. Key: host.

    Joined in index order they make the whole text (chunks split on line ends)."""

    id: str
    ts: float
    host: str
    session: str
    index: int
    count: int
    format: Literal["collapsed"]
    data: str


class ProfileFinding(_Record, frozen=True, tag_field="schema", tag="toka.profile_finding.v1"):
    """What the analysis of a report found. Key: host.

    ``bottleneck``: a function above the configured share of CPU (``share``).
    ``became_hot``: a function whose share rose against the last session of the same
    service (``baseline_*``); ``after_deploy`` when that session ran another version.
    ``leak_suspect``: an allocation site (or, without the SDK, the process's RSS) that grew
    across the session's snapshots (``growth_bytes``, ``growth_per_hour``).
    """

    id: str
    ts: float
    host: str
    session: str
    kind: Literal["bottleneck", "became_hot", "leak_suspect"]
    subject: str
    severity: Severity
    summary: str
    pid: int = 0
    service: str = ""
    version: str = ""
    share: float | None = None
    baseline_share: float | None = None
    baseline_session: str = ""
    baseline_version: str = ""
    after_deploy: bool = False
    growth_bytes: int | None = None
    growth_per_hour: float | None = None
    snapshots: int = 0
