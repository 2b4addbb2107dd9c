"""Regression detection for benchmark runs: each run's repeats against a pooled baseline.

Unlike a series, a benchmark run is one sample set judged once, so no sliding window: the
run is compared with the pool of earlier accepted runs of the same benchmark. A run that
regresses does not join the pool, so CI keeps failing until the change is fixed or the
baseline is reset (accepted). Shared by the regression stage and ``toka bench --compare``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.regressions.detector import Direction, Finding
from pipeline.regressions.stats import compare

__all__ = ["RunBaseline", "RunParams", "judge_run"]


@dataclass(frozen=True, slots=True)
class RunParams:
    min_runs: int = 1
    max_samples: int = 50
    p_value: float = 0.05
    min_effect_percent: float = 10.0
    higher_is_better: bool = False


@dataclass(slots=True)
class RunBaseline:
    version: str = ""
    samples: list[float] = field(default_factory=list)
    runs: int = 0
    pinned: bool = False
    generation: int = 0
    run_medians: list[float] = field(default_factory=list)  # one per accepted run

    @property
    def id(self) -> str:
        return f"{self.version or 'unversioned'}#{self.generation}"

    def snapshot(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # a deep copy, ~70x faster than asdict

    @classmethod
    def restore(cls, data: dict[str, Any]) -> RunBaseline:
        return cls(**data)


def judge_run(
    base: RunBaseline, samples: Sequence[float], version: str, p: RunParams
) -> Finding | None:
    """Compare one run with the baseline, then let it join the pool unless it regressed."""
    finding = None
    if base.runs >= p.min_runs and len(base.samples) >= 2 and len(samples) >= 2:
        cmp = compare(
            base.samples,
            samples,
            higher_is_better=p.higher_is_better,
            p_value=p.p_value,
            min_effect_percent=p.min_effect_percent,
        )
        if cmp.flagged and _beyond_run_spread(base.run_medians, samples, cmp.change_percent):
            direction: Direction = "regression" if cmp.worse else "improvement"
            finding = Finding(direction, "mann_whitney_u", cmp, base.version, base.id, version)
    regressed = finding is not None and finding.direction == "regression"
    if not base.pinned and not regressed:
        if finding is not None:
            base.samples = []  # an improvement is the new level
            base.run_medians = []
            base.generation += 1
        base.samples = (base.samples + list(samples))[-p.max_samples :]
        base.run_medians = [*base.run_medians, statistics.median(samples)][-10:]
        base.version = version
        base.runs += 1
    return finding


def _beyond_run_spread(medians: list[float], samples: Sequence[float], change: float) -> bool:
    """Repeats within one run share its machine's load, so the rank test over-states how
    sure a difference between runs is. With two or more baseline runs, the new run must
    also lie beyond every earlier run's median in the direction of the change: a shift
    no larger than the runs already vary by is noise, not a regression."""
    if len(medians) < 2:
        return True
    current = statistics.median(samples)
    return current > max(medians) if change > 0 else current < min(medians)
