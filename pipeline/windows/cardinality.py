"""Cardinality governance: caps on series per metric and in total.

A series beyond a cap is not tracked on its own; its samples fold into an overflow series
(per metric while the total allows it, else one global series), whose ``count`` says how
many samples were cut. So state stays bounded whatever the agents send, and the cut is
visible in the same aggregates stream as everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OVERFLOW_LABEL", "GLOBAL_OVERFLOW", "Admission", "CardinalityCaps"]

#: Label carried by overflow series (and only by them).
OVERFLOW_LABEL = "toka_overflow"
#: Metric name of the overflow series used once the total cap is reached.
GLOBAL_OVERFLOW = "toka_series_overflow"


@dataclass(frozen=True, slots=True)
class Admission:
    """Where a new series' samples go: itself, or the overflow series (host, name, labels)."""

    admitted: bool
    host: str = ""
    name: str = ""
    labels: tuple[tuple[str, str], ...] = ()


_ADMIT = Admission(True)


class CardinalityCaps:
    def __init__(self, per_metric: int = 10_000, total: int = 200_000) -> None:
        if per_metric < 1 or total < 1:
            raise ValueError("cardinality caps must be >= 1")
        self.per_metric = per_metric
        self.total = total
        self.by_metric: dict[str, int] = {}
        self.series = 0
        self.cut_series = 0

    def admit(self, name: str) -> Admission:
        """Decide for a series not seen before; counts it when admitted."""
        n = self.by_metric.get(name, 0)
        if self.series >= self.total:
            self.cut_series += 1
            return Admission(False, "", GLOBAL_OVERFLOW, ((OVERFLOW_LABEL, "total"),))
        if n >= self.per_metric:
            self.cut_series += 1
            return Admission(False, "", name, ((OVERFLOW_LABEL, "metric"),))
        self.by_metric[name] = n + 1
        self.series += 1
        return _ADMIT

    def admit_overflow(self) -> None:
        # Overflow series count against the total only (at most one per metric, plus one).
        self.series += 1

    def release(self, name: str, overflow: bool) -> None:
        """A series expired from state: its slot is free again."""
        self.series -= 1
        if not overflow:
            n = self.by_metric.get(name, 0) - 1
            if n > 0:
                self.by_metric[name] = n
            else:
                self.by_metric.pop(name, None)
