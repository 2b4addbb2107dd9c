"""The alert state machine of one rule instance (one rule x one series), as a pure function
over a small plain dict, so it can live in a changelogged table and tests can build it.

Two ranks are tracked: ``raw``, the severity rank the latest data supports, and ``rank``, the
rank that fires. ``raw`` above ``rank`` for ``for`` seconds (the ``for`` of the level
``raw`` names, else the rule's) raises ``rank`` (pending before firing); ``raw`` below
``rank`` for ``keep_firing_for`` seconds lowers it (0 resolves).
Escalation adds steps on top of ``rank`` while it stays put for ``escalate_after`` seconds.
Flap detection watches the effective rank and holds notifications while it changes too often.

Functions return a new dict; they never change the one given (the table only changelogs
assignments).
"""

from __future__ import annotations

from typing import Any

from pipeline.alerts.model import Rule

__all__ = ["advance", "effective_rank", "new_state", "observe"]

State = dict[str, Any]


def new_state() -> State:
    return {
        "raw": 0,
        "rank": 0,
        "esc": 0,
        "up": None,
        "down": None,
        "since": None,
        "changes": [],
        "last_change": None,
        "flapping": False,
        "t": None,
    }


def effective_rank(rule: Rule, st: State) -> int:
    rank = st["rank"]
    for _ in range(st["esc"] if rank else 0):
        rank = rule.next_rank(rank)
    return rank


def observe(rule: Rule, st: State, raw: int, t: float) -> State:
    """New data at event time ``t`` supports rank ``raw``; returns the advanced state."""
    rank = st["rank"]
    new = dict(st, raw=raw)
    # The pending clocks start at the first observation past the firing rank, and stop
    # as soon as one observation falls back.
    new["up"] = (
        (st["up"] if st["up"] is not None and st["raw"] > rank else t) if raw > rank else None
    )
    new["down"] = (
        (st["down"] if st["down"] is not None and st["raw"] < rank else t) if raw < rank else None
    )
    return advance(rule, new, t)


def advance(rule: Rule, st: State, t: float) -> State:
    """Apply the time-driven transitions due at ``t``, with the last observed ``raw``."""
    before = effective_rank(rule, st)
    new = dict(st)
    raw, rank = new["raw"], new["rank"]
    if raw > rank and new["up"] is not None and t - new["up"] >= rule.pending_for(raw):
        new.update(rank=raw, up=None, down=None, esc=0, since=t)
    elif raw < rank and new["down"] is not None and t - new["down"] >= rule.keep_firing_for:
        new.update(rank=raw, up=None, down=None, esc=0, since=t if raw else None)
    if (
        new["rank"]
        and rule.escalate_after is not None
        and new["since"] is not None
        and t - new["since"] >= rule.escalate_after
        and effective_rank(rule, new) < rule.next_rank(effective_rank(rule, new))
    ):
        new.update(esc=new["esc"] + 1, since=t)
    return _flap(rule, new, before, t)


def _flap(rule: Rule, st: State, before: int, t: float) -> State:
    spec = rule.flap
    if spec is None:
        return st
    changes = [c for c in st["changes"] if t - c < spec.window]
    last = st["last_change"]
    if effective_rank(rule, st) != before:
        changes.append(t)
        last = t
    flapping = st["flapping"]
    if flapping and last is not None and t - last >= spec.settle:
        # settled: forget the history, or the next single change would re-mark it
        flapping, changes = False, []
    elif not flapping and len(changes) >= spec.max_changes:
        flapping = True
    if changes == st["changes"] and flapping == st["flapping"] and last == st["last_change"]:
        return st
    return dict(st, changes=changes, last_change=last, flapping=flapping)
