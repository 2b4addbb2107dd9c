"""Count what happened to a stage's records, and log failures without flooding the log.

``ProcessingGuard`` is a stage's counter (by reason: ``ok``, ``errors``, ``decode``,
``late``, ...) plus a rate-limited logger: a flood of bad records logs a few lines per
interval and counts the rest (``log_suppressed``), so one poison producer cannot fill the
disk or hide everything else in the log. The runtime decides what a failure does to the
record (dead letter, held ack); the guard only counts and logs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ProcessingGuard"]

log = logging.getLogger(__name__)


class ProcessingGuard:
    def __init__(
        self,
        stage: str,
        *,
        log_burst: int = 10,
        log_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.counts: Counter[str] = Counter()
        self._burst, self._interval, self._clock = log_burst, log_interval, clock
        self._window_start = float("-inf")
        self._logged = 0

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    def should_log(self) -> bool:
        """At most ``log_burst`` lines per ``log_interval``; the rest are counted."""
        now = self._clock()
        if now - self._window_start >= self._interval:
            self._window_start, self._logged = now, 0
        if self._logged < self._burst:
            self._logged += 1
            return True
        self.counts["log_suppressed"] += 1
        return False

    def warning(self, msg: str, *args: object) -> None:
        if self.should_log():
            log.warning("%s: " + msg, self.stage, *args)

    def exception(self, msg: str, *args: object) -> None:
        if self.should_log():
            log.exception("%s: " + msg, self.stage, *args)

    @contextmanager
    def record(self, count_ok: bool = True) -> Iterator[None]:
        """Guard one unit of work outside the runtimes (a sink's record, a timer run):
        a failure is counted as ``errors`` and logged; with ``count_ok`` a success counts
        as ``ok``."""
        try:
            yield
        except Exception:
            self.counts["errors"] += 1
            self.exception("failed")
        else:
            if count_ok:
                self.counts["ok"] += 1

    @contextmanager
    def timer_run(self) -> Iterator[None]:
        """Guard one timer run: a failure is counted and logged, the timer keeps running
        (records are the runtime's: they never go through here)."""
        try:
            yield
        except Exception:
            self.counts["errors"] += 1
            self.exception("timer run failed")
