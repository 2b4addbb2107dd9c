"""Stall detection from records processed, and the versioned snapshot protocol."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.regressions.detector import DetectorState
from pipeline.runtime.progress import Progress
from pipeline.runtime.state import StateVersionError, dump, load

TP = ("t.metrics", 0)


def test_records_waiting_and_none_processed_for_the_stall_time_is_a_stall() -> None:
    progress = Progress(stall_seconds=60, topics={TP[0]})
    progress.record(*TP, offset=4, now=0.0)
    assert progress.stalled({TP: 4}, now=500.0) == []  # nothing waiting: quiet, not stuck
    assert progress.stalled({TP: 9}, now=510.0) == []  # waiting since 510
    (stall,) = progress.stalled({TP: 9}, now=571.0)
    assert (stall.fetched, stall.processed) == (9, 4)
    assert "no progress for 61s" in stall.describe(571.0)
    progress.stalled({TP: 9}, now=600.0)
    assert progress.stalls[TP] == 1  # one stall, counted once
    progress.record(*TP, offset=9, now=601.0)
    assert progress.stalled({TP: 9}, now=700.0) == []


def test_a_partition_that_never_processed_a_fetched_record_stalls() -> None:
    progress = Progress(stall_seconds=10, topics={TP[0]})
    assert progress.stalled({TP: 0}, now=0.0) == []
    assert [s.processed for s in progress.stalled({TP: 0}, now=11.0)] == [None]


def test_topics_no_runtime_processes_never_stall() -> None:
    """A table's changelog or a topic read outside the runtimes has no progress counted."""
    progress = Progress(stall_seconds=10, topics={TP[0]})
    progress.stalled({("app-toka-alert-state-changelog", 0): 9}, now=0.0)
    assert progress.stalled({("app-toka-alert-state-changelog", 0): 9}, now=100.0) == []


class Counter2:
    STATE_VERSION = 2

    def __init__(self, n: int) -> None:
        self.n = n

    def snapshot(self) -> dict[str, Any]:
        return {"count": self.n}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Counter2:
        return cls(data["count"])

    @staticmethod
    def upgrade(data: Any, version: int) -> dict[str, Any]:
        assert version == 1
        return {"count": data["n"]}  # version 1 called it n


def test_state_written_before_an_upgrade_restores_after_it() -> None:
    assert load(Counter2, {"n": 3}).n == 3  # a legacy snapshot, without an envelope
    assert load(Counter2, dump(Counter2(5))).n == 5
    with pytest.raises(StateVersionError, match="newer"):
        load(Counter2, {"~v": 3, "~s": {"count": 1}})


def test_a_detector_round_trips_through_the_envelope_and_reads_its_legacy_form() -> None:
    st = DetectorState()
    assert load(DetectorState, dump(st)).snapshot() == st.snapshot()
    assert load(DetectorState, st.snapshot()).snapshot() == st.snapshot()
