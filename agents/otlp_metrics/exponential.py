"""OTLP exponential histograms as cumulative explicit buckets (pure).

An exponential bucket ``i`` at scale ``s`` holds values in ``(base^i, base^(i+1)]`` with
``base = 2^(2^-s)``. Conversion is exact: every populated bucket becomes one ``le`` bound,
negative buckets mirrored below zero, the zero bucket at ``le = zero_threshold``. The scale
is capped at MAX_SCALE (merging 2^k neighbours is exact too) so a wide range stays a few
dozen bounds: at scale 3 a bucket spans 9% of its value. As the observed range grows the
layout only gains bounds, which the windows stage reads as a growing layout, not a reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SCALE", "ExponentialState", "downscale", "to_cumulative"]

MAX_SCALE = 3


def downscale(counts: Mapping[int, float], scale: int, target: int) -> dict[int, float]:
    """Buckets at ``scale`` merged into ``target`` (<= scale): index >> (scale - target)."""
    if target >= scale:
        return dict(counts)
    shift = scale - target
    out: dict[int, float] = {}
    for index, count in counts.items():
        key = index >> shift
        out[key] = out.get(key, 0.0) + count
    return out


class ExponentialState:
    """One exponential histogram's counts by bucket index, at one scale."""

    __slots__ = ("count", "negative", "positive", "scale", "sum", "zero_count", "zero_threshold")

    def __init__(self, scale: int, zero_threshold: float = 0.0) -> None:
        self.scale = scale
        self.zero_threshold = zero_threshold
        self.positive: dict[int, float] = {}
        self.negative: dict[int, float] = {}
        self.zero_count = 0.0
        self.count = 0.0
        self.sum = 0.0

    @classmethod
    def of_point(cls, point: Any) -> ExponentialState:
        """An OTLP ExponentialHistogramDataPoint's buckets, capped at MAX_SCALE."""
        target = min(point.scale, MAX_SCALE)
        state = cls(target, point.zero_threshold)
        for side, buckets in ((state.positive, point.positive), (state.negative, point.negative)):
            dense = {buckets.offset + i: float(c) for i, c in enumerate(buckets.bucket_counts) if c}
            side.update(downscale(dense, point.scale, target))
        state.zero_count, state.count = float(point.zero_count), float(point.count)
        state.sum = float(point.sum)
        return state

    def add(self, other: ExponentialState) -> None:
        """Fold a later delta in (both brought to the smaller scale)."""
        target = min(self.scale, other.scale)
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            merged = downscale(mine, self.scale, target)
            for index, count in downscale(theirs, other.scale, target).items():
                merged[index] = merged.get(index, 0.0) + count
            mine.clear()
            mine.update(merged)
        self.scale = target
        self.zero_threshold = max(self.zero_threshold, other.zero_threshold)
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum


def to_cumulative(state: ExponentialState) -> list[tuple[float, float]]:
    """Cumulative ``[(le, count)]`` in ascending ``le``; +Inf is ``state.count``."""
    base = 2.0 ** (2.0**-state.scale)
    out: list[tuple[float, float]] = []
    running = 0.0
    if state.negative:
        low, high = min(state.negative), max(state.negative)
        # Bucket j holds [-base^(j+1), -base^j): its upper bound is -base^j; most negative first.
        for j in range(high, low - 1, -1):
            running += state.negative.get(j, 0.0)
            out.append((-(base**j), running))
    running += state.zero_count
    out.append((state.zero_threshold, running))
    if state.positive:
        low, high = min(state.positive), max(state.positive)
        for i in range(low, high + 1):
            running += state.positive.get(i, 0.0)
            out.append((base ** (i + 1), running))
    return out
