"""Event records, schema v1 (design.md). Small, typed, immutable msgspec Structs.

Every input record carries a unique ``id`` so consumers can drop duplicates after a retry.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ZERO_TIME",
    "AggregateBatch",
    "Alert",
    "DeadLetter",
    "MetricBatch",
    "Sample",
    "Span",
    "SpanBatch",
    "WindowAggregate",
    "new_id",
]

#: Alertmanager's "no end" timestamp, carried by firing alerts.
ZERO_TIME = "0001-01-01T00:00:00Z"


def new_id() -> str:
    """A unique record id (UUID4 hex)."""
    return uuid.uuid4().hex


class _Record(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    pass


class Sample(_Record, frozen=True):
    """One value of one series.

    Histograms carry cumulative ``buckets`` [[le, count], ...] with finite upper bounds;
    the +Inf bucket is implied (JSON has no infinity): its count is ``value``, the total.
    """

    name: str
    value: float
    type: Literal["gauge", "counter", "histogram"] = "gauge"
    labels: dict[str, str] = {}
    ts: float | None = None
    buckets: list[tuple[float, float]] | None = None
    sum: float | None = None


class MetricBatch(_Record, frozen=True, tag_field="schema", tag="toka.metric_batch.v1"):
    """One collection from one host: many samples. Key: host.

    ``interval``: seconds until this source's next collection, a promise that its next
    record holds nothing older than ``ts + interval``; the pipeline closes windows on it
    instead of waiting out the grace period. Leave it out when there is no schedule.
    """

    id: str
    host: str
    source: str
    ts: float
    samples: list[Sample]
    resource: dict[str, str] = {}
    interval: float | None = None


class Span(_Record, frozen=True):
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    kind: str = "internal"
    status: Literal["unset", "ok", "error"] = "unset"
    attributes: dict[str, Any] = {}


class SpanBatch(_Record, frozen=True, tag_field="schema", tag="toka.span_batch.v1"):
    """Many spans from one service. Key: service.

    ``sample_rate``: the probability with which these spans were kept (the agent's head
    sampling, ``performance.tracing_sample_rate``); each stands for ``1 / sample_rate``
    spans, so RED call and error counts estimate the real traffic.
    """

    id: str
    host: str
    spans: list[Span]
    resource: dict[str, str] = {}
    sample_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1.0


class WindowAggregate(_Record, frozen=True, tag_field="schema", tag="toka.window_aggregate.v1"):
    """One series over one closed window. Key: series id."""

    id: str
    series: str
    name: str
    host: str
    window_start: float
    window_end: float
    count: int
    sum: float
    min: float
    max: float
    mean: float
    last: float
    labels: dict[str, str] = {}
    type: str = "gauge"
    rate: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    #: Histograms: bucket-wise increase over the window, cumulative [[le, count]] with
    #: finite bounds (the +Inf bucket is ``observations``), and the observations' sum.
    buckets: list[tuple[float, float]] | None = None
    observations: float | None = None
    observations_sum: float | None = None
    #: Optional (pipeline.emit_sketches): the window's DDSketch, relative accuracy
    #: ``alpha``, buckets ``pos``/``neg`` as [[key...], [count...]] of gamma^key, and
    #: ``zero``; sketches merge exactly by adding counts per key.
    sketch: dict[str, Any] | None = None


class AggregateBatch(_Record, frozen=True, tag_field="schema", tag="toka.aggregate_batch.v1"):
    """Internal: the aggregates one input partition closed at once, for the analytics stages.

    One record per close instead of one per series: the analytics stages pay Faust's
    per-record cost once for many aggregates. It goes to the partition number of the input
    it came from, so one host's series (metrics) or one service's (spans) arrive together
    and always on the same partition. Key: none.
    """

    id: str
    aggregates: list[WindowAggregate]


class Alert(_Record, frozen=True, tag_field="schema", tag="toka.alert.v1"):
    """An alert state change, in the shape Alertmanager's POST /api/v2/alerts takes.

    Firing alerts carry ``endsAt`` = ZERO_TIME, as Alertmanager's webhook does. Key: fingerprint.
    """

    id: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    endsAt: str
    fingerprint: str
    rule: str
    value: float
    threshold: float
    generatorURL: str = ""


class DeadLetter(_Record, frozen=True, tag_field="schema", tag="toka.dead_letter.v1"):
    """A record that could not be processed, with its reason and the original bytes (base64)."""

    id: str
    reason: str
    error: str
    source_topic: str
    ts: float
    original_b64: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
