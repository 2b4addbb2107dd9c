"""Callables for the ``toka bench`` tests: work whose speed the test controls."""

from __future__ import annotations

import time

DELAY = 0.002
FAIL = False


def work() -> int:
    if FAIL:
        raise RuntimeError("boom")
    time.sleep(DELAY)
    return 10
