"""Count agent crashes: Faust's one-for-one supervisor, with a log of what it restarts.

Faust restarts a crashed actor in place and only logs it; the worker looks healthy while
an agent may be crash-looping (faust#175). This supervisor records every restart with its
reason, so /metrics counts it and /healthz fails for a while after it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mode.supervisors import OneForOneSupervisor
from mode.types import ServiceT

__all__ = ["CrashLog", "supervisor_for"]

#: Crash times kept per log (enough for any health window; memory stays bounded).
MAX_CRASHES_KEPT = 1000


@dataclass
class CrashLog:
    """What the supervisors restarted: crashes (real errors) and cancellations."""

    clock: Callable[[], float] = time.time
    crashes: Counter[str] = field(default_factory=Counter)
    cancellations: Counter[str] = field(default_factory=Counter)
    recent: list[tuple[float, str]] = field(default_factory=list)
    last_reason: dict[str, str] = field(default_factory=dict)
    supervisors: dict[str, Any] = field(default_factory=dict)

    def record(self, agent: str, reason: BaseException | None) -> None:
        # A cancelled actor is how Faust restarts one on a rebalance: counted, not a crash.
        if isinstance(reason, asyncio.CancelledError):
            self.cancellations[agent] += 1
            return
        self.crashes[agent] += 1
        self.last_reason[agent] = repr(reason)
        self.recent.append((self.clock(), agent))
        del self.recent[:-MAX_CRASHES_KEPT]

    def dead_agents(self, stopping: bool) -> list[str]:
        """Agents with an actor that is neither running nor about to be restarted."""
        if stopping:
            return []
        dead = []
        for agent, sup in self.supervisors.items():
            if sup.should_stop:
                continue
            for actor in sup.actors():
                task = getattr(actor, "actor_task", None)
                # An agent whose function returned has stopped consuming for good.
                if actor.crashed or (task is not None and task.done() and not actor.should_stop):
                    dead.append(agent)
                    break
        return dead


def supervisor_for(log: CrashLog) -> type[OneForOneSupervisor]:
    """A supervisor class (Faust's ``agent_supervisor`` setting takes a class) bound to
    ``log``: one per app, no module-level state."""

    class CountingSupervisor(OneForOneSupervisor):
        def actors(self) -> list[ServiceT]:
            return list(self._services)

        async def on_start(self) -> None:
            log.supervisors[_agent_name(self)] = self
            await super().on_start()

        async def restart_service(self, service: ServiceT) -> None:
            log.record(_agent_name(self, service), service.crash_reason)
            await super().restart_service(service)

    return CountingSupervisor


def _agent_name(sup: OneForOneSupervisor, service: ServiceT | None = None) -> str:
    services = [service] if service is not None else list(sup._services)
    for s in services:
        agent = getattr(s, "agent", None)
        if agent is not None:
            return str(agent.name)
    return "unknown"
