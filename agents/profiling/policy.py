"""Whether the agent runs a profiling command: its local configuration is the final word.

Pure: the caller passes the clock, what runs, and what it read about the target. Every
refusal is a sentence an operator can act on, naming the key that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from agents.profiling.target import Target

if TYPE_CHECKING:
    from schemas.config.profiling import ProfilingConfig
    from schemas.profiles import ProfileCommand

__all__ = ["allowed_process", "refusal"]


def refusal(
    command: ProfileCommand,
    *,
    now: float,
    enabled: bool,
    settings: ProfilingConfig,
    target: Target | None,
    running: Mapping[int, str],
    agent_pid: int,
    profiler_found: bool = True,
) -> str | None:
    """Why a ``start`` command is refused, or None to run it.

    ``running``: pid -> session id of the sessions running now.
    """
    if not enabled:
        return "profiling is disabled on this host (performance.profiling_enabled is false)"
    if now > command.expires_at:
        return f"command expired {now - command.expires_at:.0f}s ago (at {command.expires_at:.0f})"
    if command.pid == agent_pid:
        return "the agent does not profile itself"
    if target is None:
        return f"no process {command.pid} on this host (or not readable by the agent)"
    if not allowed_process(target, settings.processes):
        return (
            f"process {command.pid} ({target.name}) matches none of "
            f"agent.profiling.processes {settings.processes}"
        )
    duration = command.duration_seconds
    if not duration > 0:
        return f"duration must be positive (got {duration})"
    if duration > settings.max_duration_seconds:
        return (
            f"duration {duration:g}s is above agent.profiling.max_duration_seconds "
            f"({settings.max_duration_seconds:g}s)"
        )
    if command.rate_hz < 0:
        return f"rate must be positive (got {command.rate_hz})"
    if command.rate_hz > settings.max_rate_hz:
        return (
            f"rate {command.rate_hz} Hz is above agent.profiling.max_rate_hz "
            f"({settings.max_rate_hz} Hz)"
        )
    if command.pid in running:
        return f"a session is already running on process {command.pid} ({running[command.pid]})"
    if len(running) >= settings.max_sessions:
        return (
            f"{len(running)} sessions running: agent.profiling.max_sessions is "
            f"{settings.max_sessions}"
        )
    if command.kind == "cpu" and not profiler_found:
        return "py-spy is not installed next to the agent or on its PATH"
    return None


def allowed_process(target: Target, patterns: list[str]) -> bool:
    """A pattern matches the process name or its whole command line."""
    return any(fnmatchcase(target.name, p) or fnmatchcase(target.cmdline, p) for p in patterns)
