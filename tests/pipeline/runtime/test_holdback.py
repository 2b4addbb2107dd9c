"""Holdback: a record is released once its windows are closed, in order."""

from __future__ import annotations

from pipeline.runtime.holdback import Holdback


def test_released_when_the_watermark_passes_its_windows() -> None:
    h: Holdback[str] = Holdback(span=15.0, idle_after=100.0)  # window 10 s + grace 5 s
    h.hold(100.0, arrived=0.0, item="a")
    h.hold(104.0, arrived=0.0, item="b")
    assert h.release(closed_through=114.9, now=1.0) == []
    assert h.release(closed_through=115.0, now=1.0) == ["a"]
    assert h.release(closed_through=118.0, now=1.0) == []
    assert h.release(closed_through=119.0, now=1.0) == ["b"]
    assert len(h) == 0


def test_quiet_partition_releases_by_wall_clock() -> None:
    h: Holdback[str] = Holdback(span=15.0, idle_after=20.0)
    h.hold(100.0, arrived=50.0, item="a")
    assert h.release(closed_through=100.0, now=69.9) == []
    assert h.release(closed_through=100.0, now=70.0) == ["a"]


def test_release_keeps_order_behind_a_record_from_the_future() -> None:
    h: Holdback[str] = Holdback(span=10.0, idle_after=30.0)
    h.hold(500.0, arrived=0.0, item="future")
    h.hold(100.0, arrived=0.0, item="normal")
    # Offsets commit only up to the first unacked record anyway: keep the order.
    assert h.release(closed_through=200.0, now=1.0) == []
    assert h.release(closed_through=200.0, now=30.0) == ["future", "normal"]


def test_drop_returns_and_forgets_everything() -> None:
    h: Holdback[int] = Holdback(span=1.0, idle_after=1.0)
    for i in range(3):
        h.hold(float(i), 0.0, i)
    assert list(h.drop()) == [0, 1, 2]
    assert h.release(closed_through=1e9, now=1e9) == []
