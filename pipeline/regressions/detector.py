"""Regression detection for one subject (a series field or a benchmark), as a state value.

A baseline is established from the first ``baseline_windows`` values of one version, then
every value is tested: the last ``current_windows`` values against the baseline (rank test
plus a minimum effect), a step CUSUM tuned to the minimum effect in units of the series'
own noise (what keeps noisy series' steps from needing many more windows), and a CUSUM for
drifts too slow for the window test. A change is
reported once; under the ``rolling`` policy the baseline is then refreshed block by block
(a new version or a new level is accepted after one full block), under ``pinned`` it stays
until ``toka baseline unpin|reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from statistics import median
from typing import Any, Literal

import msgspec

from pipeline.anomalies.seasonal import Seasonal, dominant, learn, season_at
from pipeline.regressions.stats import (
    Comparison,
    compare,
    cusum_step,
    cusum_threshold,
    relative_change,
    robust_scale,
)

__all__ = [
    "Baseline",
    "DetectorParams",
    "DetectorState",
    "Finding",
    "SeasonParams",
    "apply_command",
    "observe",
    "observe_seasonal",
]

Direction = Literal["regression", "improvement"]
#: The rank test's p-value a step CUSUM signal needs on the current set as well.
STEP_CONFIRM_P = 0.05


@dataclass(frozen=True, slots=True)
class DetectorParams:
    baseline_windows: int = 60
    current_windows: int = 5
    policy: Literal["rolling", "pinned"] = "rolling"
    p_value: float = 0.001
    min_effect_percent: float = 10.0
    cusum_k: float = 0.5
    cusum_h: float = 12.0
    higher_is_better: bool = False
    #: Step CUSUM: its slack is this share of the minimum effect in noise sigmas, its
    #: threshold gives ``step_arl`` windows between false alarms (nominal, with a known
    #: mean and sigma: estimated from 60 windows they alarm ~10x as often, measured).
    step_slack: float = 0.75
    step_arl: float = 100000.0
    #: Until a series' cycle is known (two periods seen), a finding needs this many
    #: times the minimum effect: a daily curve's rising edge is not yet told from a step.
    warmup_effect_factor: float = 3.0


@dataclass(slots=True)
class Baseline:
    version: str = ""
    values: list[float] = field(default_factory=list)
    established_ts: float | None = None
    pinned: bool = False
    generation: int = 0  # bumps on every re-establishment: part of the baseline id

    @property
    def established(self) -> bool:
        return self.established_ts is not None

    @property
    def id(self) -> str:
        return f"{self.version or 'unversioned'}#{self.generation}"


@dataclass(slots=True)
class DetectorState:
    """Everything one subject needs; ``snapshot``/``restore`` round-trip through JSON."""

    baseline: Baseline = field(default_factory=Baseline)
    recent: list[float] = field(default_factory=list)
    block: list[float] = field(default_factory=list)  # values past ``recent``, next baseline
    block_version: str = ""
    s_hi: float = 0.0
    s_lo: float = 0.0
    open: Direction | None = None
    last_version: str = ""
    seen: int = 0
    season: list[Seasonal] = field(default_factory=list)
    season_active: bool = False
    c_hi: float = 0.0  # step CUSUM sums (in noise sigmas) and how long each has risen
    c_lo: float = 0.0
    run_hi: int = 0
    run_lo: int = 0

    def snapshot(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # a deep copy, ~70x faster than asdict

    @classmethod
    def restore(cls, data: dict[str, Any]) -> DetectorState:
        d = dict(data)
        d["baseline"] = Baseline(**d["baseline"])
        d["season"] = [Seasonal(**x) for x in d.get("season", [])]
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Finding:
    direction: Direction
    method: str
    comparison: Comparison
    baseline_version: str
    baseline_id: str
    current_version: str


def observe(
    state: DetectorState, value: float, version: str, ts: float, p: DetectorParams
) -> Finding | None:
    """Feed one value (mutates ``state``); returns a Finding when a change is first seen."""
    state.seen += 1
    state.last_version = version
    base = state.baseline
    if not base.established:
        _collect_baseline(state, value, version, ts, p)
        return None

    state.recent.append(value)
    if len(state.recent) > p.current_windows:
        _retire(state, state.recent.pop(0), version, ts, p)
    mean, sigma = robust_scale(base.values)
    # a drift is slow: one window adds at most h / current_windows (a burst is not one)
    reach = (p.cusum_k + p.cusum_h / p.current_windows) * sigma
    state.s_hi, state.s_lo = cusum_step(
        state.s_hi, state.s_lo, min(max(value, mean - reach), mean + reach),
        mean=mean, sigma=sigma, k=p.cusum_k,
    )  # fmt: skip
    step = _step_cusum(state, value, mean, sigma, p)
    if len(state.recent) < p.current_windows:
        return None
    # Cheap pre-check: every path needs the medians apart (by half the effect for a step).
    moved = abs(relative_change(median(base.values), median(state.recent)))
    if state.open is None and moved < p.min_effect_percent * (0.5 if step else 1.0):
        return None

    cmp = compare(
        base.values,
        state.recent,
        higher_is_better=p.higher_is_better,
        p_value=p.p_value,
        min_effect_percent=p.min_effect_percent,
    )
    drift = (state.s_hi > p.cusum_h and cmp.change_percent > 0) or (
        state.s_lo > p.cusum_h and cmp.change_percent < 0
    )
    if cmp.flagged:
        method = "mann_whitney_u"
    elif (
        step is not None
        and abs(step) >= p.min_effect_percent
        # the current set moved too (half the effect, same sense, rank test p < 5%): a
        # chart whose mean and sigma come from 60 windows alarms ~10x its nominal rate
        and step * cmp.change_percent > 0
        and abs(cmp.change_percent) >= p.min_effect_percent / 2
        and cmp.p_value < STEP_CONFIRM_P
    ):
        method = "cusum_step"
    elif drift and cmp.large_enough:
        method = "cusum"
    else:
        if state.open is not None and not cmp.large_enough:
            state.open = None  # back to normal: re-arm
        return None
    direction: Direction = "regression" if cmp.worse else "improvement"
    if state.open == direction:
        return None
    state.open = direction
    state.s_hi = state.s_lo = state.c_hi = state.c_lo = 0.0
    state.run_hi = state.run_lo = 0
    state.block.clear()  # the next baseline block starts after the change
    return Finding(direction, method, cmp, base.version, base.id, version)


def _step_cusum(
    state: DetectorState, value: float, mean: float, sigma: float, p: DetectorParams
) -> float | None:
    """One step of the step CUSUM; on a signal, the shift it estimates (percent, signed)
    and the sums restart, else None.

    Its slack is ``step_slack`` of the minimum effect in this series' noise sigmas (never
    below ``cusum_k``): a noisy series is judged on a smaller shift per window summed over
    more windows, a quiet one on a large shift at once. Its threshold gives a mean of
    ``step_arl`` windows between false alarms (Siegmund), whatever the slack. The shift
    is the mean of the values since the sum last left zero: more windows than the
    current set when the noise is high."""
    effect = p.min_effect_percent / 100.0 * max(abs(mean), 1e-12) / sigma
    k = max(p.cusum_k, round(effect * p.step_slack, 2))
    h = cusum_threshold(k, p.step_arl)
    # A signal needs more than a majority of the current set: one window adds at most
    # h / least, so a burst of one or two windows (a batch job) is not a step however far
    # it reaches.
    least = p.current_windows // 2 + 1
    reach = (k + h / least) * sigma
    clipped = min(max(value, mean - reach), mean + reach)
    hi, lo = cusum_step(state.c_hi, state.c_lo, clipped, mean=mean, sigma=sigma, k=k)
    state.run_hi = state.run_hi + 1 if hi > 0 else 0
    state.run_lo = state.run_lo + 1 if lo > 0 else 0
    state.c_hi, state.c_lo = hi, lo
    shift = None
    if hi > h and state.run_hi >= least:
        shift = (hi / state.run_hi + k) * sigma
    elif lo > h and state.run_lo >= least:
        shift = -(lo / state.run_lo + k) * sigma
    if shift is None:
        return None
    state.c_hi = state.c_lo = 0.0  # an alarm restarts the chart, reported or not
    state.run_hi = state.run_lo = 0
    return shift / max(abs(mean), 1e-12) * 100.0


@dataclass(frozen=True, slots=True)
class SeasonParams:
    periods_s: tuple[float, ...] = (86400.0,)
    per_period: int = 48
    min_strength: float = 0.6


def observe_seasonal(
    state: DetectorState,
    value: float,
    version: str,
    ts: float,
    *,
    p: DetectorParams,
    sp: SeasonParams,
) -> Finding | None:
    """``observe`` on the value with its daily/weekly cycle removed, once one is learned.

    A cycle is not a regression: without this, the rising edge of a daily traffic curve
    reads as a step against a baseline taken at the trough. When a cycle is first found
    the baseline is re-established on adjusted values (old and new units do not mix).
    """
    if not state.season:
        state.season = [Seasonal(period_s=x) for x in sp.periods_s]
    model = dominant(state.season, sp.min_strength)
    known = all(x.trend is not None for x in state.season)  # before this value's refit
    for s in state.season:
        learn(s, value, ts, sp.per_period)
    if model is None:
        return observe(state, value, version, ts, p if known else _warming(p))
    if not state.season_active:
        state.season_active = True
        apply_command(state, "reset", p)
    return observe(state, value - season_at(model, ts, sp.per_period), version, ts, p)


@lru_cache(maxsize=16)
def _warming(p: DetectorParams) -> DetectorParams:
    """The parameters while a cycle is not yet known: a larger minimum effect."""
    return replace(p, min_effect_percent=p.min_effect_percent * p.warmup_effect_factor)


def apply_command(state: DetectorState, action: str, p: DetectorParams) -> None:
    """``pin`` freezes the baseline, ``unpin`` lets it roll, ``reset`` re-establishes it."""
    if action == "pin":
        state.baseline.pinned = True
    elif action == "unpin":
        state.baseline.pinned = False
    elif action == "reset":
        gen = state.baseline.generation + 1
        state.baseline = Baseline(generation=gen, pinned=p.policy == "pinned")
        state.recent.clear()
        state.block.clear()
        state.s_hi = state.s_lo = state.c_hi = state.c_lo = 0.0
        state.run_hi = state.run_lo = 0
        state.open = None
    else:
        raise ValueError(f"unknown baseline action {action!r}")


def _collect_baseline(
    state: DetectorState, value: float, version: str, ts: float, p: DetectorParams
) -> None:
    base = state.baseline
    if base.values and version != base.version:
        base.values.clear()  # a baseline holds one version only
    base.version = version
    base.values.append(value)
    if len(base.values) >= p.baseline_windows:
        base.established_ts = ts
        base.pinned = base.pinned or p.policy == "pinned"


def _retire(state: DetectorState, value: float, version: str, ts: float, p: DetectorParams) -> None:
    """A value leaving the current set joins the next baseline block (rolling policy)."""
    base = state.baseline
    if base.pinned:
        return
    if state.block and version != state.block_version:
        state.block.clear()
    state.block_version = version
    state.block.append(value)
    if len(state.block) >= p.baseline_windows:
        # The block becomes the baseline: a reported change is now the accepted level.
        base.values = state.block
        base.version = state.block_version
        base.established_ts = ts
        base.generation += 1
        state.block = []
        state.s_hi = state.s_lo = state.c_hi = state.c_lo = 0.0
        state.run_hi = state.run_lo = 0
        state.open = None
