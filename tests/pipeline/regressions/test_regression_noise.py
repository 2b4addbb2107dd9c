"""The regression core on noisy and cycling series, and state of the previous version."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.regressions.detector import (
    DetectorParams,
    DetectorState,
    SeasonParams,
    observe,
    observe_seasonal,
)
from pipeline.regressions.stats import cusum_threshold

FIXTURES = Path(__file__).parent / "fixtures"
P = DetectorParams()  # the defaults the stage runs with: baseline 60, current 5


def first_finding(values: np.ndarray, start: int = 0, p: DetectorParams = P) -> int | None:
    st = DetectorState()
    for i, v in enumerate(values):
        f = observe(st, float(v), "v1", float(i), p)
        if f is not None and i >= start:
            return i
    return None


@pytest.mark.parametrize(("k", "arl"), [(0.5, 5000.0), (1.0, 5000.0), (2.0, 1000.0)])
def test_cusum_threshold_gives_the_asked_run_length(k: float, arl: float) -> None:
    b = cusum_threshold(k, arl) + 1.166
    assert (math.expm1(2 * k * b) - 2 * k * b) / (2 * k * k) == pytest.approx(arl, rel=1e-6)
    assert cusum_threshold(k, 10 * arl) > cusum_threshold(k, arl)


@pytest.mark.parametrize(
    ("cv", "within", "trials", "most_late"), [(0.05, 5, 40, 1), (0.10, 10, 120, 18)]
)
def test_a_20_percent_step_in_noise_is_found_in_time(
    cv: float, within: int, trials: int, most_late: int
) -> None:
    """Issue 17 asks >= 95% (bench/regressions/accuracy over 200 trials at 10% noise:
    96.5%, 90.5% before the step CUSUM). This fixed sample of 120 counts a false alarm
    before the step as a miss too and gives 87%: a guard against losing the step chart,
    not proof of the target."""
    rng = np.random.default_rng(11)
    late = 0
    for _ in range(trials):
        v = 100 * (1 + cv * rng.standard_normal(180))
        v[110:] *= 1.2
        found = first_finding(v)
        late += found is None or not 110 <= found < 110 + within
    assert late <= most_late


@pytest.mark.parametrize("cv", [0.02, 0.10, 0.20])
def test_stationary_noise_stays_quiet_at_any_level(cv: float) -> None:
    rng = np.random.default_rng(int(cv * 100))
    flags = 0
    for _ in range(4):
        st = DetectorState()
        for i, v in enumerate(100 * (1 + cv * rng.standard_normal(1500))):
            flags += observe(st, float(v), "v1", float(i), P) is not None
    assert flags <= 5  # 5,760 monitored windows: under 1 per 1,000


@pytest.mark.parametrize("seed", range(4))
def test_a_cycle_is_not_a_regression_before_it_is_learned(seed: int) -> None:
    """A +-10% daily curve from the series' first window (the issue's case): before two
    cycles are seen the detector cannot tell its rising edge from a step (issue 17: 2.5
    findings per 1,000 windows, all in the first two days)."""
    rng = np.random.default_rng(seed)
    period, n = 144, 2 * 144 + 60
    sp = SeasonParams(periods_s=(float(period),))
    t = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi)
    v = (
        100
        * (1 + 0.10 * np.sin(2 * np.pi * t / period + phase))
        * (1 + 0.05 * rng.standard_normal(n))
    )
    st = DetectorState()
    found = [i for i, x in enumerate(v)
             if observe_seasonal(st, float(x), "v1", float(i), p=P, sp=sp)]  # fmt: skip
    assert found == []


def test_a_big_step_is_still_found_while_the_cycle_is_learned() -> None:
    rng = np.random.default_rng(3)
    sp = SeasonParams(periods_s=(144.0,))
    v = 100 * (1 + 0.03 * rng.standard_normal(200))
    v[120:] *= 1.6
    st = DetectorState()
    found = [i for i, x in enumerate(v)
             if observe_seasonal(st, float(x), "v1", float(i), p=P, sp=sp)]  # fmt: skip
    assert found and 120 <= found[0] < 125


def test_detector_state_written_by_the_previous_version_restores_and_runs() -> None:
    data = json.loads((FIXTURES / "detector_v1.json").read_text())["state"]
    assert "c_hi" not in data  # written before the step CUSUM existed
    st = DetectorState.restore(data)
    assert st.baseline.established and st.season_active and st.c_hi == 0.0
    assert DetectorState.restore(json.loads(json.dumps(st.snapshot()))) == st
    sp = SeasonParams(periods_s=(3600.0,), per_period=12)
    rng = np.random.default_rng(9)
    found = []
    for i in range(400, 520):
        v = 100 * (1 + 0.1 * math.sin(2 * math.pi * i / 36)) * (1 + 0.05 * rng.standard_normal())
        v *= 1.5 if i >= 480 else 1.0
        if observe_seasonal(st, v, "v1", 1.7e9 + i * 100.0, p=P, sp=sp):
            found.append(i)
    assert found and 480 <= found[0] < 486
