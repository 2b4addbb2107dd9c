"""The trust boundary of command topics (``baseline-commands``, ``profile-commands``).

Anyone who can write a command topic can ask a component to act, so Kafka ACLs must
restrict who writes it (see the README); and every component that obeys commands asks its
own local configuration first, which has the final word, then records what it did:

    gate = CommandGate("baseline", cfg.pipeline.baseline_commands, known={"pin", "unpin",
                       "reset"}, on_outcome=lambda o: counter.labels(o.kind, o.action,
                       o.outcome).inc())
    verdict = gate.admit(cmd.id, cmd.action, cmd.subject, cmd.ts)
    if verdict.allowed:
        ...act...
        gate.record(verdict, "applied")          # or "no_such_subject", "failed: ..."

Every admitted or refused command is logged on ``toka.commands`` at INFO/WARNING with its
id, action, subject and outcome, and reported to ``on_outcome`` (a counter, an audit topic).
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from schemas.config.commands import CommandTrust

__all__ = ["CommandGate", "Outcome", "Verdict"]

log = logging.getLogger("toka.commands")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str  # "allowed", or why not: disabled, action, subject, too_old, rate_limited
    command_id: str
    action: str
    subject: str


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # which gate: "baseline", "profile"
    command_id: str
    action: str
    subject: str
    outcome: str  # refused_<reason>, or what the component did ("applied", ...)


class CommandGate:
    def __init__(
        self,
        kind: str,
        trust: CommandTrust,
        *,
        known: Iterable[str],
        on_outcome: Callable[[Outcome], None] = lambda _o: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind, self._trust, self._clock, self._on_outcome = kind, trust, clock, on_outcome
        known = frozenset(known)
        unknown = set(trust.actions) - known
        if unknown:
            from schemas.errors import ConfigError

            raise ConfigError(kind, [(f"{kind}.actions", f"unknown {sorted(unknown)}; "
                                      f"known: {sorted(known)}")])  # fmt: skip
        self._actions = frozenset(trust.actions) or known
        self._recent: deque[float] = deque()

    def check(self, action: str, subject: str, ts: float) -> str:
        """``allowed`` or the reason to refuse; pure (no rate limit, nothing recorded)."""
        t = self._trust
        if not t.enabled:
            return "disabled"
        if action not in self._actions:
            return "action"
        if t.subjects and not any(fnmatch.fnmatchcase(subject, p) for p in t.subjects):
            return "subject"
        if t.max_age_seconds and self._clock() - ts > t.max_age_seconds:
            return "too_old"
        return "allowed"

    def admit(
        self, command_id: str, action: str, subject: str, ts: float, *, count: bool = True
    ) -> Verdict:
        """Check, rate-limit (``count=False``: a component's own copy of a command it
        already admitted), and record a refusal."""
        reason = self.check(action, subject, ts)
        if reason == "allowed" and count:
            now = self._clock()
            while self._recent and now - self._recent[0] > 60:
                self._recent.popleft()
            if len(self._recent) >= self._trust.max_per_minute:
                reason = "rate_limited"
            else:
                self._recent.append(now)
        verdict = Verdict(reason == "allowed", reason, command_id, action, subject)
        if not verdict.allowed:
            self.record(verdict, f"refused_{reason}")
        return verdict

    def record(self, verdict: Verdict, outcome: str) -> None:
        """What the component did with the command (or that it refused it)."""
        level = logging.INFO if verdict.allowed else logging.WARNING
        log.log(level, "%s command %s: %s %s -> %s", self.kind, verdict.command_id,
                verdict.action, verdict.subject, outcome)  # fmt: skip
        self._on_outcome(
            Outcome(self.kind, verdict.command_id, verdict.action, verdict.subject, outcome)
        )
