"""Builders for window tests: batches of samples at given event times."""

from __future__ import annotations

from typing import Any

from schemas.records import MetricBatch, Sample, new_id


def sample(name: str, value: float, ts: float | None = None, **kw: Any) -> Sample:
    return Sample(name=name, value=value, ts=ts, **kw)


def batch(ts: float, samples: list[Sample], host: str = "h1") -> MetricBatch:
    return MetricBatch(id=new_id(), host=host, source="test", ts=ts, samples=samples)


def gauge_batch(ts: float, value: float, host: str = "h1", name: str = "cpu", **labels: str):
    return batch(ts, [sample(name, value, labels=labels)], host=host)
