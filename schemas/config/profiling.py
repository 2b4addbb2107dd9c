"""Settings of profiling: what the agent allows (agent.profiling) and how reports are
analysed (analytics.profiles). The on/off switch is ``performance.profiling_enabled``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from schemas.config.base import Block
from schemas.config.commands import CommandTrust

__all__ = ["ProfileAnalysisConfig", "ProfilingConfig"]


class ProfilingConfig(Block):
    """The agent's local limits: the final word on any profiling command it receives."""

    #: fnmatch patterns matched against a process's name and its command line; a process
    #: matching none is refused. The agent itself is always refused.
    processes: list[str] = Field(default_factory=lambda: ["*"])
    max_duration_seconds: float = Field(300.0, gt=0)
    default_rate_hz: int = Field(100, gt=0)
    #: The cap on sampling rate, which bounds a CPU session's cost to the profiled process.
    max_rate_hz: int = Field(200, gt=0)
    #: Sessions at once on this host (never two on one process, whatever this says).
    max_sessions: int = Field(2, ge=1)
    #: Memory sessions: one RSS reading and one tracemalloc snapshot this often.
    snapshot_interval_seconds: float = Field(10.0, gt=0)
    #: Where services that opt in (agents.profiling.sdk) put their socket, as they see it;
    #: the agent reaches it through /proc/PID/root, so containers need no shared volume.
    sdk_socket_dir: Path = Path("/tmp/toka-profiling")
    #: Functions, hot paths and allocation sites kept in a report (each).
    report_top: int = Field(50, ge=1)
    #: The raw profile's size cap; the least frequent stacks beyond it are left out (counted).
    max_raw_bytes: int = Field(4 * 1024 * 1024, gt=0)
    #: py-spy --nonblocking: never pause the target. On by default: pausing it for every
    #: sample cost a CPU-bound process 10-44% of its throughput on a loaded host, where py-spy
    #: itself waits for a CPU while the target is stopped (bench/profiling); false gives
    #: exactly consistent stacks.
    nonblocking: bool = True
    #: What this agent obeys from toka.profile-commands (agents.commands.CommandGate):
    #: actions (start, stop), subjects (the session kind: cpu, memory), age and rate.
    commands: CommandTrust = CommandTrust()

    @model_validator(mode="after")
    def _default_within_cap(self) -> ProfilingConfig:
        if self.default_rate_hz > self.max_rate_hz:
            raise ValueError(
                f"default_rate_hz ({self.default_rate_hz}) must not exceed "
                f"max_rate_hz ({self.max_rate_hz})"
            )
        return self


class ProfileAnalysisConfig(Block):
    """Thresholds of the analysis of profile reports (pipeline.profiles)."""

    #: A function whose self time is at least this share of the samples is a bottleneck.
    bottleneck_share: float = Field(0.2, gt=0, le=1)
    #: Functions that hold at least this share now and at least ``hot_ratio`` times their
    #: share in the last session of the same service are flagged as having become hot.
    hot_min_share: float = Field(0.1, gt=0, le=1)
    hot_ratio: float = Field(2.0, gt=1)
    #: Leak suspects: sites that grew in at least ``leak_growing_fraction`` of the intervals
    #: between at least ``leak_min_snapshots`` snapshots, by at least ``leak_min_growth_bytes``.
    leak_min_snapshots: int = Field(3, ge=2)
    leak_growing_fraction: float = Field(0.8, gt=0, le=1)
    leak_min_growth_bytes: int = Field(1024 * 1024, ge=0)
