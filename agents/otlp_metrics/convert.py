"""OTLP metrics (ExportMetricsServiceRequest, protobuf or OTLP/JSON) into Samples (pure,
apart from the delta state each caller owns).

Gauges stay gauges. Sums: monotonic ones become counters (named ``..._total`` as
Prometheus expects), the others gauges. Histograms keep their buckets, made cumulative;
exponential histograms become cumulative explicit buckets (``exponential.py``). Delta
temporality is accumulated into cumulative values per stream, as the Collector's
``deltatocumulative`` processor does, because the windows stage reads counters and
histograms as cumulative series (rates, resets). Names: dots and other characters PromQL
does not allow become ``_``; data-point attributes become labels, plus ``service`` from
the resource's ``service.name`` (two services on one host must not share a series).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import orjson

from agents.otlp_metrics.exponential import ExponentialState, to_cumulative
from schemas.errors import DecodeError
from schemas.records import Sample

__all__ = ["DeltaState", "ResourceSamples", "parse_request", "request_samples"]

ResourceSamples = tuple[dict[str, str], list[Sample]]

_DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def parse_request(body: bytes, json: bool) -> Any:
    """An ExportMetricsServiceRequest from protobuf or OTLP/JSON; DecodeError otherwise."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError as ProtoError
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    req = ExportMetricsServiceRequest()
    if not json:
        try:
            req.ParseFromString(body)
        except ProtoError as exc:
            raise DecodeError("invalid", f"not an ExportMetricsServiceRequest: {exc}") from None
        return req
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise DecodeError("wrong_type", "expected an OTLP/JSON object")
    try:
        # Exemplars carry hex trace ids (OTLP/JSON), which protobuf's parser reads as
        # base64; they are not used here, so they go before parsing.
        return json_format.ParseDict(_without_exemplars(doc), req, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError("invalid", f"not OTLP/JSON metrics: {exc}") from None


def _without_exemplars(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_exemplars(v) for k, v in node.items() if k != "exemplars"}
    if isinstance(node, list):
        return [_without_exemplars(v) for v in node]
    return node


class DeltaState:
    """Running totals of delta streams, bounded: past ``max_streams`` the oldest is
    forgotten (its next point starts again from zero, which readers see as a reset)."""

    def __init__(self, max_streams: int = 100_000) -> None:
        self.max_streams = max_streams
        self.evicted = 0
        self._totals: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Any:
        value = self._totals.get(key)
        if value is not None:
            self._totals.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        self._totals[key] = value
        self._totals.move_to_end(key)
        while len(self._totals) > self.max_streams:
            self._totals.popitem(last=False)
            self.evicted += 1


def request_samples(req: Any, deltas: DeltaState) -> Iterator[ResourceSamples]:
    """Per ResourceMetrics: its resource attributes (as strings) and its samples."""
    for rm in req.resource_metrics:
        resource = {
            a.key: str(_value(a.value)) for a in rm.resource.attributes if _value(a.value) != ""
        }
        base = {"service": resource["service.name"]} if "service.name" in resource else {}
        rkey = tuple(sorted(resource.items()))
        samples: list[Sample] = []
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                samples += _metric(metric, base, rkey, deltas)
        yield resource, samples


def _name(name: str) -> str:
    out = _INVALID.sub("_", name)
    return f"_{out}" if out[:1].isdigit() else out


def _labels(point: Any, base: dict[str, str]) -> dict[str, str]:
    labels = dict(base)
    for a in point.attributes:
        labels[_INVALID.sub("_", a.key)] = str(_value(a.value))
    return labels


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return ""
    if which in ("array_value", "kvlist_value"):
        return orjson.dumps(_plain(v)).decode()
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _plain(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_plain(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    return _value(v)


def _number(point: Any) -> float:
    return float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)


def _metric(metric: Any, base: dict[str, str], rkey: tuple, deltas: DeltaState) -> list[Sample]:
    kind = metric.WhichOneof("data")
    name = _name(metric.name)
    out: list[Sample] = []
    if kind == "gauge":
        for p in metric.gauge.data_points:
            out.append(Sample(name=name, value=_number(p), labels=_labels(p, base),
                              ts=p.time_unix_nano / 1e9))  # fmt: skip
    elif kind == "sum":
        monotonic, delta = metric.sum.is_monotonic, metric.sum.aggregation_temporality == _DELTA
        if monotonic and not name.endswith("_total"):
            name += "_total"
        for p in metric.sum.data_points:
            labels = _labels(p, base)
            value = _number(p)
            if delta:
                key = (rkey, name, tuple(sorted(labels.items())))
                value += deltas.get(key) or 0.0
                deltas.put(key, value)
            out.append(Sample(name=name, value=value, labels=labels, ts=p.time_unix_nano / 1e9,
                              type="counter" if monotonic else "gauge"))  # fmt: skip
    elif kind in ("histogram", "exponential_histogram"):
        data = getattr(metric, kind)
        convert = _histogram if kind == "histogram" else _exponential
        for p in data.data_points:
            labels = _labels(p, base)
            key = (rkey, name, tuple(sorted(labels.items())))
            delta = data.aggregation_temporality == _DELTA
            out.append(convert(name, p, labels, key if delta else None, deltas))
    elif kind == "summary":
        for p in metric.summary.data_points:
            labels, ts = _labels(p, base), p.time_unix_nano / 1e9
            for q in p.quantile_values:
                out.append(Sample(name=name, value=q.value, ts=ts,
                                  labels={**labels, "quantile": repr(q.quantile)}))  # fmt: skip
            out.append(Sample(name=f"{name}_sum", value=p.sum, labels=labels, ts=ts,
                              type="counter"))  # fmt: skip
            out.append(Sample(name=f"{name}_count", value=float(p.count), labels=labels, ts=ts,
                              type="counter"))  # fmt: skip
    return out


def _histogram(name: str, p: Any, labels: dict[str, str], key: tuple | None,
               deltas: DeltaState) -> Sample:  # fmt: skip
    """``key``: the stream's key when the point is a delta (None: cumulative)."""
    bounds = list(p.explicit_bounds)
    counts = [float(c) for c in p.bucket_counts]
    count, total = float(p.count), float(p.sum)
    if key is not None:
        before = deltas.get(key)
        if before is not None and before[0] == bounds:
            counts = [a + b for a, b in zip(before[1], counts, strict=False)]
            count, total = count + before[2], total + before[3]
        deltas.put(key, (bounds, counts, count, total))
    cumulative, running = [], 0.0
    for bound, c in zip(bounds, counts, strict=False):
        running += c
        cumulative.append((float(bound), running))
    return Sample(name=name, value=count, type="histogram", labels=labels,
                  ts=p.time_unix_nano / 1e9, buckets=cumulative, sum=total)  # fmt: skip


def _exponential(name: str, p: Any, labels: dict[str, str], key: tuple | None,
                 deltas: DeltaState) -> Sample:  # fmt: skip
    state = ExponentialState.of_point(p)
    if key is not None:
        before = deltas.get(key)
        if before is not None:
            before.add(state)
            state = before
        deltas.put(key, state)
    buckets = to_cumulative(state)
    return Sample(name=name, value=state.count, type="histogram", labels=labels,
                  ts=p.time_unix_nano / 1e9, buckets=buckets, sum=state.sum)  # fmt: skip
