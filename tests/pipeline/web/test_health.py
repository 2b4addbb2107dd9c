"""The pure health judgement behind /healthz."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from pipeline.web import HealthJudge, HealthPolicy, StageCounts

POLICY = HealthPolicy(crash_window_seconds=120, error_window_seconds=60, min_errors=5)


def judge_at_start(**stages: tuple[int, int]) -> HealthJudge:
    judge = HealthJudge(POLICY)
    judge.sample(0.0, {s: StageCounts(*c) for s, c in stages.items()})
    return judge


def test_fresh_worker_is_healthy() -> None:
    health = HealthJudge(POLICY).evaluate(0.0, {"windows": StageCounts(0, 0)})
    assert health.ok and health.as_json() == {"status": "ok", "problems": []}


@pytest.mark.parametrize(
    ("ok", "errors", "healthy"),
    [
        (0, 5, False),  # failing every record: 503
        (0, 4, True),  # below min_errors: one bad minute is not a dead stage
        (1, 50, True),  # something still completes: the errors show in metrics, not liveness
        (100, 0, True),
    ],
)
def test_errors_rising_with_nothing_completed(ok: int, errors: int, healthy: bool) -> None:
    judge = judge_at_start(windows=(10, 2))
    health = judge.evaluate(30.0, {"windows": StageCounts(10 + ok, 2 + errors)})
    assert health.ok is healthy
    if not healthy:
        assert health.problems == [
            f"stage windows: {errors} failed record(s) and none completed in the last 60s"
        ]


def test_errors_are_judged_over_the_window_not_since_start() -> None:
    judge = judge_at_start(s=(0, 0))
    for t in range(5, 61, 5):  # the timer's ticks: errors pile up with nothing completing
        judge.sample(float(t), {"s": StageCounts(0, t)})
    assert not judge.evaluate(65.0, {"s": StageCounts(0, 65)}).ok
    # From t=70 records complete again, with no new error: fine once the window moves on.
    for t in range(70, 131, 5):
        judge.sample(float(t), {"s": StageCounts(t, 65)})
        health = judge.evaluate(float(t), {"s": StageCounts(t, 65)})
    assert health.ok


def test_old_errors_leave_the_window() -> None:
    judge = judge_at_start(s=(0, 0))
    assert not judge.evaluate(10.0, {"s": StageCounts(0, 9)}).ok
    for t in range(15, 80, 5):
        judge.sample(float(t), {"s": StageCounts(0, 9)})
        health = judge.evaluate(float(t), {"s": StageCounts(0, 9)})
    assert health.ok  # no new error for a whole window


def test_a_dead_agent_fails_until_it_runs() -> None:
    judge = HealthJudge(POLICY)
    health = judge.evaluate(0.0, {}, dead_agents=["toka-windows", "toka-windows"])
    assert health.problems == ["agent toka-windows: no running actor"]
    assert judge.evaluate(1.0, {}, dead_agents=[]).ok


def test_a_crash_fails_for_the_crash_window_then_clears() -> None:
    judge = HealthJudge(POLICY)
    crashes = [(100.0, "toka-windows"), (110.0, "toka-windows"), (5.0, "toka-spans")]
    health = judge.evaluate(150.0, {}, crashes=crashes)
    assert health.problems == [
        "agent toka-windows: crashed 2 time(s) in the last 120s (restarted; replace this worker)"
    ]
    assert judge.evaluate(231.0, {}, crashes=crashes).ok


def _lines_run(call: Callable[[], Any]) -> int:
    """Python lines executed by ``call()`` (the work it does, counted, not timed)."""
    lines = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
        return trace

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return lines


def test_a_call_costs_the_same_however_many_came_before() -> None:
    # /healthz and /metrics both judge health; a scraper calling every 10 ms must not make
    # each call scan every call of the last minute (finding 7 of issue 10).
    judge = HealthJudge(POLICY)
    stages = {"windows": StageCounts(100, 0), "spans": StageCounts(50, 0)}
    clock = iter(i * 0.01 for i in range(10**6))  # all within one error window

    def call() -> None:
        assert judge.evaluate(next(clock), stages).ok

    for _ in range(10):
        call()
    early = _lines_run(call)
    for _ in range(3000):
        call()
    assert _lines_run(call) == early
    assert judge.samples_held == 0  # requests read the history, only the timer writes it


def test_the_history_stays_bounded_by_the_window() -> None:
    judge = HealthJudge(POLICY)
    for t in range(0, 3600, 5):  # an hour of timer samples, 5 s apart
        judge.sample(float(t), {"s": StageCounts(t, 0)})
    assert judge.samples_held <= POLICY.error_window_seconds / 5 + 1
