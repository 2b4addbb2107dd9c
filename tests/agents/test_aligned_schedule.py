"""Aligned collections: just before each multiple of the interval on the wall clock."""

from __future__ import annotations

import pytest

from agents.runtime import aligned_delay


@pytest.mark.parametrize(
    ("now", "interval", "slot"),
    [
        (100.0, 10.0, 109.5),
        (109.4, 10.0, 109.5),
        (109.5, 10.0, 119.5),  # at a slot: the next one, never a burst
        (113.2, 10.0, 119.5),
        (5.0, 1.0, 5.95),
        (0.0, 60.0, 59.5),
    ],
)
def test_next_slot(now: float, interval: float, slot: float) -> None:
    assert now + aligned_delay(now, interval) == pytest.approx(slot)


def test_a_slot_ends_the_window_its_sample_falls_in() -> None:
    # The sample lands in the last moments of a window of the same length, so the promise
    # of the next one (an interval later) covers that window's end at once.
    slot = 1000.0 + aligned_delay(1000.0, 10.0)
    assert slot % 10.0 == pytest.approx(9.5)
