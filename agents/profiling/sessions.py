"""The agent's profiling sessions: commands in, status records and reports out.

``handle`` decides at once (accepted or refused, with the reason) and runs an accepted
session as a task; ``close`` ends every session before the agent stops, so none outlives
it. Records go out through ``emit`` (the agent's publisher: queued, spooled, retried).
A command id is acted on once, however often it is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agents.commands import CommandGate, Outcome, Verdict
from agents.profiling.errors import SessionError
from agents.profiling.policy import refusal
from agents.profiling.target import Target, read_target
from schemas.profiles import ProfileCommand, ProfileStatus, SessionState
from schemas.records import new_id

if TYPE_CHECKING:
    import msgspec

    from schemas.config.profiling import ProfilingConfig

__all__ = ["SessionManager"]

log = logging.getLogger("toka.agent.profiling")

_SEEN_IDS = 1024
_CLOSE_SECONDS = 5.0


@dataclass(slots=True)
class _Session:
    command: ProfileCommand
    target: Target
    rate_hz: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class SessionManager:
    def __init__(
        self,
        host: str,
        settings: ProfilingConfig,
        *,
        enabled: bool,
        emit: Callable[[msgspec.Struct], None],
        clean: Callable[[str], str] = lambda text: text,
        max_record_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.time,
        pyspy: str | None = None,
        on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        self.host, self.settings, self.enabled = host, settings, enabled
        self._emit, self._clean, self._clock = emit, clean, clock
        self._max_record_bytes = max_record_bytes
        self._pyspy = pyspy
        # The command trust gate (action, subject = kind, age, rate): every command and what
        # came of it is logged on toka.commands and counted through on_outcome.
        self._gate = CommandGate("profile", settings.commands, known=("start", "stop"),
                                 on_outcome=on_outcome, clock=clock)  # fmt: skip
        self._sessions: dict[str, _Session] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._agent_pid = os.getpid()

    @property
    def running(self) -> dict[int, str]:
        """pid -> session id, for every session not finished yet."""
        return {s.target.pid: sid for sid, s in self._sessions.items()}

    def handle(self, command: ProfileCommand) -> None:
        """Act on one command for this host. Never raises."""
        if command.host != self.host or command.id in self._seen:
            return
        self._seen[command.id] = None
        if len(self._seen) > _SEEN_IDS:
            self._seen.popitem(last=False)
        session = self._sessions.get(command.session)
        kind = session.command.kind if command.action == "stop" and session else command.kind
        verdict = self._gate.admit(command.id, command.action, kind, command.ts)
        if not verdict.allowed:
            reason = f"refused by agent.profiling.commands: {verdict.reason}"
            self._status(command.session or command.id if command.action == "stop" else command.id,
                         "refused", command, reason=reason)  # fmt: skip
            return
        try:
            if command.action == "stop":
                self._stop(command, verdict)
            else:
                self._start(command, verdict)
        except Exception as exc:  # noqa: BLE001 - a bad command must not stop the listener
            log.exception("toka agent: profiling command %s failed", command.id)
            self._gate.record(verdict, "failed")
            self._status(command.id, "failed", command, reason=f"agent error: {exc!r}"[:300])

    def _start(self, command: ProfileCommand, verdict: Verdict) -> None:
        if command.kind == "cpu" and self._pyspy is None:
            from agents.profiling.cpu import find_pyspy

            self._pyspy = find_pyspy()
        target = read_target(command.pid) if self.enabled else None
        reason = refusal(
            command, now=self._clock(), enabled=self.enabled, settings=self.settings,
            target=target, running=self.running, agent_pid=self._agent_pid,
            profiler_found=self._pyspy is not None,
        )  # fmt: skip
        if reason is not None:
            self._gate.record(verdict, "refused_policy")
            log.info("toka agent: profiling command %s refused: %s", command.id, reason)
            self._status(command.id, "refused", command, reason=reason, target=target)
            return
        assert target is not None
        rate = command.rate_hz or self.settings.default_rate_hz
        session = _Session(command, target, rate)
        self._sessions[command.id] = session
        self._gate.record(verdict, "accepted")
        self._status(command.id, "accepted", command, target=target, rate=rate)
        session.task = asyncio.create_task(self._run(session), name=f"profile-{command.id}")

    def _stop(self, command: ProfileCommand, verdict: Verdict) -> None:
        session = self._sessions.get(command.session)
        if session is None:
            self._gate.record(verdict, "refused_no_session")
            reason = f"no session {command.session} is running on this host"
            self._status(command.session or command.id, "refused", command, reason=reason)
            return
        self._gate.record(verdict, "stopping")
        session.stop.set()

    async def _run(self, session: _Session) -> None:
        command, target = session.command, session.target
        started = self._clock()
        self._status(command.id, "running", command, target=target, rate=session.rate_hz)
        try:
            report, chunks, early = await self._profile(session, started)
        except SessionError as exc:
            self._status(command.id, "failed", command, reason=str(exc), target=target)
        except asyncio.CancelledError:
            self._status(command.id, "stopped", command, reason="the agent stopped", target=target)
            raise
        except Exception as exc:  # noqa: BLE001 - counted in the status, never silent
            log.exception("toka agent: profiling session %s failed", command.id)
            self._status(command.id, "failed", command, reason=f"agent error: {exc!r}"[:300],
                         target=target)  # fmt: skip
        else:
            self._emit(report)
            for chunk in chunks:
                self._emit(chunk)
            state: SessionState = "stopped" if early else "done"
            self._status(command.id, state, command, target=target, rate=session.rate_hz)
        finally:
            self._sessions.pop(command.id, None)

    async def _profile(self, session: _Session, started: float) -> tuple[Any, list[Any], bool]:
        from agents.profiling.report import SessionFacts, build_report

        command, settings = session.command, self.settings
        cpu = memory = None
        if command.kind == "cpu":
            from agents.profiling.cpu import run_cpu
            from agents.profiling.memory import sdk_identity

            service, version = await sdk_identity(session.target, settings.sdk_socket_dir)
            if service:
                session.target = replace(session.target, service=service, version=version)
            assert self._pyspy is not None
            cpu = await run_cpu(
                self._pyspy, session.target.pid, command.duration_seconds, session.rate_hz,
                nonblocking=settings.nonblocking, stop=session.stop,
            )  # fmt: skip
        else:
            from agents.profiling.memory import run_memory

            memory = await run_memory(
                session.target, command.duration_seconds, settings.snapshot_interval_seconds,
                settings.sdk_socket_dir, stop=session.stop, clean=self._clean,
            )  # fmt: skip
        facts = SessionFacts(self.host, command.id, command.kind, session.target,
                             session.rate_hz if cpu else 0, started, self._clock())  # fmt: skip
        report, chunks = build_report(
            facts, cpu=cpu, memory=memory, top=settings.report_top,
            max_raw_bytes=settings.max_raw_bytes, max_record_bytes=self._max_record_bytes,
            clean=self._clean,
        )  # fmt: skip
        early = cpu.stopped_early if cpu is not None else bool(memory and memory.stopped_early)
        return report, chunks, early

    def _status(
        self,
        session: str,
        state: SessionState,
        command: ProfileCommand,
        *,
        reason: str = "",
        target: Target | None = None,
        rate: int = 0,
    ) -> None:
        self._emit(
            ProfileStatus(
                id=new_id(),
                ts=self._clock(),
                host=self.host,
                session=session,
                state=state,
                reason=reason,
                pid=command.pid,
                kind=command.kind,
                process=target.name if target else "",
                duration_seconds=command.duration_seconds,
                rate_hz=rate,
                requested_by=command.requested_by,
            )  # fmt: skip
        )

    async def close(self) -> None:
        """Stop every session: each gets a moment to report what it has, then is cancelled."""
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        for session in self._sessions.values():
            session.stop.set()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=_CLOSE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
