"""Keep a stage alive through one bad record, and count what happened.

Expected bad input (undecodable, late) is counted by reason by the stage itself. An
unexpected exception while processing one record is logged with its traceback, counted
and skipped, so one poison record cannot stop the stream (faust#175); a stage that fails
on every record shows it in ``errors`` and in the worker's log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

__all__ = ["ProcessingGuard", "register_guard", "registered_guards"]

log = logging.getLogger(__name__)


class ProcessingGuard:
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.counts: Counter[str] = Counter()

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    @contextmanager
    def record(self, count_ok: bool = True) -> Iterator[None]:
        """Guard one record (or, with ``count_ok=False``, one timer run: its failures
        count, its successes are not records processed)."""
        try:
            yield
        except Exception:
            self.counts["errors"] += 1
            log.exception("%s: record failed, skipped", self.stage)
        else:
            if count_ok:
                self.counts["ok"] += 1


def register_guard(app: Any, guard: ProcessingGuard) -> None:
    """List a stage's guard on its app, where /metrics and /healthz read them."""
    cast(Any, app).toka_guards = [*registered_guards(app), guard]


def registered_guards(app: Any) -> list[ProcessingGuard]:
    return list(getattr(app, "toka_guards", []))
