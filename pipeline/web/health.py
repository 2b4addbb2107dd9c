"""Liveness of a worker, judged from plain numbers (no Faust, no I/O).

A worker is failing when an agent has no running actor, when an agent crashed recently
(Faust's supervisor restarts it in place, but a restarted actor is not trusted: the
process should be replaced, and the group replays what was not committed), or when a
stage keeps failing records while completing none. faust#175: a processor must never die
quietly while the process looks alive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Health", "HealthJudge", "HealthPolicy", "StageCounts"]


@dataclass(frozen=True, slots=True)
class StageCounts:
    ok: int
    errors: int


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    #: An agent crash keeps the worker failing for this long.
    crash_window_seconds: float = 120.0
    #: Errors are compared with the counts of about this long ago.
    error_window_seconds: float = 60.0
    #: At least this many new errors and no new ok record within the window: failing.
    min_errors: int = 5


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "failing", "problems": self.problems}


class HealthJudge:
    """Keeps per-stage counts sampled on a timer; ``evaluate`` gives the verdict for one
    moment against the sample of about one error window ago.

    Sampling is the timer's job, not the requests': a request only reads, so its cost does
    not grow with the requests made before it (a scrape every second once kept a minute of
    snapshots and scanned them all on every call).
    """

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self._history: deque[tuple[float, dict[str, StageCounts]]] = deque()

    def evaluate(
        self,
        now: float,
        stages: Mapping[str, StageCounts],
        dead_agents: Iterable[str] = (),
        crashes: Iterable[tuple[float, str]] = (),
    ) -> Health:
        """``crashes``: (time, agent) of every crash so far; older ones are ignored."""
        problems = [f"agent {name}: no running actor" for name in sorted(set(dead_agents))]
        since = now - self.policy.crash_window_seconds
        recent: dict[str, int] = {}
        for at, agent in crashes:
            if at >= since:
                recent[agent] = recent.get(agent, 0) + 1
        problems += [
            f"agent {name}: crashed {n} time(s) in the last "
            f"{self.policy.crash_window_seconds:g}s (restarted; replace this worker)"
            for name, n in sorted(recent.items())
        ]
        problems += self._stalled_stages(now, stages)
        return Health(ok=not problems, problems=problems)

    def sample(self, now: float, stages: Mapping[str, StageCounts]) -> None:
        """Record the counts of ``now`` (the timer's job; the first call is the start-up
        baseline, so a stage failing from its first record shows at once)."""
        self._history.append((now, dict(stages)))
        self._forget_before(now - self.policy.error_window_seconds)

    @property
    def samples_held(self) -> int:
        """Snapshots kept: about error_window_seconds / the sampling interval, plus one."""
        return len(self._history)

    def _forget_before(self, bound: float) -> None:
        # Keep the newest snapshot at or before ``bound`` as the baseline, drop older ones
        # (each snapshot is dropped once: amortised O(1) per call).
        while len(self._history) > 1 and self._history[1][0] <= bound:
            self._history.popleft()

    def _stalled_stages(self, now: float, stages: Mapping[str, StageCounts]) -> list[str]:
        window = self.policy.error_window_seconds
        base = self._baseline(now - window)
        if base is None:
            return []
        out = []
        for stage, counts in sorted(stages.items()):
            before = base.get(stage, StageCounts(0, 0))
            errors, ok = counts.errors - before.errors, counts.ok - before.ok
            if errors >= self.policy.min_errors and ok <= 0:
                out.append(
                    f"stage {stage}: {errors} failed record(s) and none completed "
                    f"in the last {window:g}s"
                )
        return out

    def _baseline(self, at_or_before: float) -> dict[str, StageCounts] | None:
        """The newest snapshot no younger than the window, else the oldest one held.

        The oldest one (start-up) makes a stage that fails from its first record fail
        health without waiting a whole window.
        """
        self._forget_before(at_or_before)
        return self._history[0][1] if self._history else None
