"""Points into requests, in time order per series (pure)."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.sinks.remote_write.naming import Point
from pipeline.sinks.remote_write.proto import Series

__all__ = ["requests_of"]


def requests_of(points: list[Point], max_samples: int) -> Iterator[tuple[list[Series], int]]:
    """Split ``points`` into requests of at most ``max_samples`` samples: ``(series, n)``.

    Sorted by time first, so every request holds samples no older than the previous one's
    for any series: a receiver that refuses out-of-order samples (Prometheus) takes them
    all, request after request. One timestamp per series appears once (the last wins).
    """
    ordered = sorted(points, key=lambda p: p[1])
    for start in range(0, len(ordered), max_samples):
        chunk = ordered[start : start + max_samples]
        series: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
        for labels, ts, value in chunk:
            series.setdefault(tuple(sorted(labels.items())), {})[ts] = value
        yield (
            [(dict(key), sorted(samples.items())) for key, samples in series.items()],
            len(chunk),
        )
