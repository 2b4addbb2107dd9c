"""What `toka profile list|show` make of toka.profiles: one view per session."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli.profile_cmd import parse_seconds
from pipeline.profiles.history import raw_profile, sessions
from schemas.profiles import ProfileChunk, ProfileReport, ProfileStatus


def _status(session: str, state: str, ts: float, reason: str = "") -> ProfileStatus:
    return ProfileStatus(id=f"{session}{state}", ts=ts, host="h", session=session, state=state,
                         reason=reason, pid=7, process="python3")  # fmt: skip


def _chunk(index: int, data: str) -> ProfileChunk:
    return ProfileChunk(id=f"k{index}", ts=3.0, host="h", session="a", index=index, count=2,
                        format="collapsed", data=data)  # fmt: skip


def test_latest_state_report_and_raw_profile() -> None:
    report = ProfileReport(id="r", ts=3.0, host="h", session="a", pid=7, kind="cpu", started=1.0,
                           ended=3.0, raw_format="collapsed", raw_chunks=2)  # fmt: skip
    records = [_status("a", "accepted", 1.0), _status("b", "refused", 1.5, "disabled"),
               _status("a", "running", 1.1), _chunk(1, "b 2\n"), report, _status("a", "done", 3.1),
               object()]  # fmt: skip
    views = sessions(records)
    assert list(views) == ["a", "b"]
    assert (views["a"].state, views["a"].pid, views["a"].process) == ("done", 7, "python3")
    assert (views["b"].state, views["b"].reason) == ("refused", "disabled")
    assert raw_profile(views["a"]) is None  # a chunk is missing
    views = sessions([*records, _chunk(0, "a 1\n")])
    assert raw_profile(views["a"]) == "a 1\nb 2\n"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("60s", 60.0), ("2m", 120.0),
                                               ("1.5h", 5400.0)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_bad_duration_names_the_value() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="'soon'"):
        parse_seconds("soon")
