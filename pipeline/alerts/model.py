"""The rule model: plain frozen dataclasses that the parser builds and the engine reads."""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMPARATORS",
    "FIELDS",
    "SEVERITY_RANK",
    "AbsenceSpec",
    "FindingSpec",
    "FlapSpec",
    "Grouping",
    "Level",
    "Matcher",
    "RatioSpec",
    "Rule",
]

#: Severity scale. "warning" is the seed's and Alertmanager's usual name: it ranks with
#: "medium", so a rule may use one or the other, not both.
SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "warning": 2, "high": 3, "critical": 4}

#: Aggregate fields a rule may compare (WindowAggregate attributes).
FIELDS = ("mean", "min", "max", "last", "sum", "count", "rate", "p50", "p90", "p95", "p99")

_CANONICAL = {1: "low", 2: "medium", 3: "high", 4: "critical"}

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, Prometheus style: ``=``, ``!=``, ``=~``, ``!~`` (anchored regex)."""

    label: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(got) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True, slots=True)
class Level:
    """One severity of a rule: fire past ``value``; once firing, stay until past ``resolve``.
    ``for_``: how long the data must hold this severity before it fires (None: the rule's
    ``for``), so a warning can wait for a sustained condition while critical fires at once."""

    severity: str
    value: float
    resolve: float
    for_: float | None = None

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.severity]


@dataclass(frozen=True, slots=True)
class RatioSpec:
    """numerator / denominator of the same window, joined on the ``on`` labels (None: all
    labels and host); several series on one side of a join are summed."""

    numerator: str
    denominator: str
    on: tuple[str, ...] | None = None  # None: every label the two series share


@dataclass(frozen=True, slots=True)
class AbsenceSpec:
    """Fire when a series (or everything of a ``by`` group) sends nothing for ``after`` s."""

    after: float
    by: tuple[str, ...] | None = None  # None: per series; e.g. ("host",): per host


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """A rule on findings of one ``kind`` (regression, anomaly, capacity) instead of
    aggregates. ``clear_after``: seconds without a matching finding for the subject after
    which the data says "clear" (None: only a finding below the thresholds clears)."""

    kind: Literal["regression", "anomaly", "capacity"]
    clear_after: float | None


@dataclass(frozen=True, slots=True)
class FlapSpec:
    """``max_changes`` notifications within ``window`` s mark flapping; held until quiet for
    ``settle`` s."""

    window: float
    max_changes: int
    settle: float


@dataclass(frozen=True, slots=True)
class Grouping:
    """Alerts sharing the ``by`` labels within ``window`` s get one group key."""

    by: tuple[str, ...] = ("host",)
    window: float = 300.0


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    metric: str  # the series name; for ratio rules the numerator's
    kind: Literal["threshold", "ratio", "absence", "finding"] = "threshold"
    matchers: tuple[Matcher, ...] = ()
    field: str = "mean"
    op: str = ">"
    levels: tuple[Level, ...] = ()  # ascending rank
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    escalate_after: float | None = None
    flap: FlapSpec | None = None
    ratio: RatioSpec | None = None
    absence: AbsenceSpec | None = None
    finding: FindingSpec | None = None
    window: float | None = None  # aggregates of this window length only (None: the set's)

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.metric and all(m.matches(labels) for m in self.matchers)

    def level_for(self, value: float, current_rank: int) -> int:
        """The highest rank whose condition holds. Ranks at or below the current one use
        their resolve threshold (hysteresis), ranks above it their firing threshold."""
        cmp = COMPARATORS[self.op]
        best = 0
        for lv in self.levels:
            limit = lv.resolve if lv.rank <= current_rank else lv.value
            if cmp(value, limit):
                best = lv.rank
        return best

    def pending_for(self, rank: int) -> float:
        """Seconds the data must support ``rank`` before it fires."""
        lv = self.level(rank)
        return self.for_ if lv is None or lv.for_ is None else lv.for_

    def level(self, rank: int) -> Level | None:
        for lv in self.levels:
            if lv.rank == rank:
                return lv
        return None

    def severity_name(self, rank: int) -> str:
        """The rule's own name for a rank (``warning`` or ``medium``), else the scale's."""
        lv = self.level(rank)
        return lv.severity if lv is not None else _CANONICAL[rank]

    def next_rank(self, rank: int) -> int:
        """Escalation target: the rule's next defined severity, else one step up the scale."""
        higher = [lv.rank for lv in self.levels if lv.rank > rank]
        return min(higher) if higher else min(rank + 1, SEVERITY_RANK["critical"])
