"""Records from the output topics -> one batch of rows for the history (pure, no I/O).

Aggregates are read only through ``schemas.aggregates.read_aggregates``, whatever form the
topic carries. A record that cannot be decoded is counted by topic and skipped (its offset
still advances: the dead-letter topic and the worker's counters already hold the story).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import orjson

from schemas.aggregates import read_aggregates
from schemas.analytics import Anomaly, BenchmarkResult, CapacityForecast, Regression
from schemas.codec import decode
from schemas.errors import DecodeError
from schemas.records import Alert, DeadLetter, WindowAggregate

__all__ = ["FINDING_KINDS", "IngestBatch", "aggregate_columns"]

#: Topic kind -> (record type, finding kind stored) for everything that is not aggregates
#: or alerts.
FINDING_KINDS: dict[str, type[msgspec.Struct]] = {
    "regressions": Regression,
    "anomalies": Anomaly,
    "capacity": CapacityForecast,
    "benchmarks": BenchmarkResult,
    "deadletter": DeadLetter,
}


@dataclass
class IngestBatch:
    """Everything one poll brought, with the next offset of every partition it read."""

    aggregates: list[WindowAggregate] = field(default_factory=list)
    alerts: list[tuple[float, Alert]] = field(default_factory=list)
    findings: list[tuple[str, str, float, str, str, str, str]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    bad: Counter[str] = field(default_factory=Counter)
    #: Kafka records the batch was made of (aggregates records can hold many aggregates).
    records: int = 0

    def add(self, kind: str, topic: str, partition: int, offset: int, *, ts: float,
            value: bytes | None) -> None:  # fmt: skip
        """One Kafka record of topic ``kind`` (``aggregates``, ``alerts``, a FINDING_KIND)."""
        self.offsets[(topic, partition)] = offset + 1
        if value is None:
            return
        try:
            if kind == "aggregates":
                self.aggregates.extend(read_aggregates(value))
            elif kind == "alerts":
                self.alerts.append((ts, decode(value, Alert)))
            else:
                self.findings.append(_finding(kind, decode(value, FINDING_KINDS[kind]), ts))
        except DecodeError:
            self.bad[kind] += 1

    def __len__(self) -> int:
        return len(self.aggregates) + len(self.alerts) + len(self.findings)


def _finding(kind: str, rec: Any, ts: float) -> tuple[str, str, float, str, str, str, str]:
    body = msgspec.json.encode(rec).decode()
    if kind == "deadletter":
        return (kind, rec.id, rec.ts, rec.source_topic, "", rec.reason, body)
    if kind == "benchmarks":
        return (kind, rec.id, rec.ts, rec.benchmark, rec.environment.get("host", ""), "", body)
    subject = rec.subject if kind == "regressions" else rec.series
    severity = getattr(rec, "severity", "") or getattr(rec, "recommendation", "")
    return (kind, rec.id, rec.ts or ts, subject, rec.host, severity, body)


def aggregate_columns(aggs: list[WindowAggregate]) -> dict[str, np.ndarray]:
    """The aggregates as numpy columns, in the raw table's order (one bulk insert)."""

    def floats(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    starts = np.array([a.window_start for a in aggs], dtype=np.float64)
    ends = np.array([a.window_end for a in aggs], dtype=np.float64)
    labels = [orjson.dumps(a.labels, option=orjson.OPT_SORT_KEYS).decode() for a in aggs]
    return {
        "id": np.array([a.id for a in aggs], dtype=object),
        "series": np.array([a.series for a in aggs], dtype=object),
        "name": np.array([a.name for a in aggs], dtype=object),
        "host": np.array([a.host for a in aggs], dtype=object),
        "labels": np.array(labels, dtype=object),
        "type": np.array([a.type for a in aggs], dtype=object),
        "window_start": starts,
        "window_end": ends,
        "width": ends - starts,
        "count": np.array([a.count for a in aggs], dtype=np.int64),
        "sum": np.array([a.sum for a in aggs], dtype=np.float64),
        "min": np.array([a.min for a in aggs], dtype=np.float64),
        "max": np.array([a.max for a in aggs], dtype=np.float64),
        "mean": np.array([a.mean for a in aggs], dtype=np.float64),
        "last": np.array([a.last for a in aggs], dtype=np.float64),
        "rate": floats([a.rate for a in aggs]),
        "p50": floats([a.p50 for a in aggs]),
        "p95": floats([a.p95 for a in aggs]),
        "p99": floats([a.p99 for a in aggs]),
    }
