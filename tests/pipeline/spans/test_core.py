"""Spans -> RED aggregates (pure core)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.spans import SpanWindows, span_samples
from pipeline.spans.core import CALLS, DURATION, ERRORS
from pipeline.windows import WindowStore

from .helpers import span, span_batch


def red(aggs: list, service: str, op: str) -> dict:
    return {a.name: a for a in aggs if a.labels == {"service": service, "operation": op}}


def test_span_samples_are_three_per_span_at_end_time() -> None:
    b = span_batch("checkout", [span("GET /cart", 100.0, 0.25, error=True)])
    mb = span_samples(b)
    assert [(s.name, s.value, s.ts) for s in mb.samples] == [
        (CALLS, 1.0, 100.25), (ERRORS, 1.0, 100.25), (DURATION, 0.25, 100.25)
    ]  # fmt: skip
    assert mb.host == "h1" and mb.ts == 100.25
    assert mb.samples[0].labels == {"service": "checkout", "operation": "GET /cart"}


@pytest.mark.parametrize(("resource", "service"), [
    ({"service.name": "a"}, "a"), ({"service": "b"}, "b"), ({}, "unknown_service"),
])  # fmt: skip
def test_service_name_from_resource(resource, service) -> None:
    b = span_batch("x", [span("op", 1.0, 0.1)])
    b = type(b)(id=b.id, host=b.host, spans=b.spans, resource=resource)
    assert span_samples(b).samples[0].labels["service"] == service


@pytest.mark.parametrize("n_calls,error_every", [(1, 1), (50, 5), (2000, 10)])
def test_red_per_service_and_operation(n_calls: int, error_every: int) -> None:
    rng = np.random.default_rng(n_calls)
    durs = rng.gamma(2.0, 0.05, n_calls)
    sw = SpanWindows(WindowStore([10.0], grace=0.0))
    spans = [span("GET /a", 100.0 + i * 9.0 / n_calls, float(d), error=i % error_every == 0)
             for i, d in enumerate(durs)]  # fmt: skip
    other = [span("POST /b", 101.0, 0.5)]
    for chunk in range(0, n_calls, 100):
        assert sw.add(span_batch("shop", spans[chunk : chunk + 100] + other), now=110.0) == []
    sw.add(span_batch("shop", [span("tick", 130.0, 0.0)]), now=130.0)
    aggs = sw.close_due(now=130.0)
    a = red(aggs, "shop", "GET /a")
    errors = sum(1 for i in range(n_calls) if i % error_every == 0)
    assert a[CALLS].sum == n_calls and a[CALLS].count == n_calls
    assert a[ERRORS].sum == errors and a[ERRORS].mean == pytest.approx(errors / n_calls)
    ends = np.array([(s.end_ns - s.start_ns) / 1e9 for s in spans])
    want = np.quantile(ends, [0.5, 0.9, 0.95, 0.99], method="lower")
    got = np.array([a[DURATION].p50, a[DURATION].p90, a[DURATION].p95, a[DURATION].p99])
    assert np.all(np.abs(got - want) <= 0.01 * want + 1e-9)
    assert a[DURATION].window_start == 100.0 and a[DURATION].host == "h1"
    b = red(aggs, "shop", "POST /b")
    assert b[CALLS].sum == n_calls // 100 + (n_calls % 100 > 0)


def test_late_spans_come_back_as_spans() -> None:
    sw = SpanWindows(WindowStore([10.0], grace=2.0))
    sw.add(span_batch("s", [span("op", 120.0, 0.1)]), now=120.0)
    ok, old = span("op", 119.0, 0.5), span("op", 100.0, 0.5)
    late = sw.add(span_batch("s", [ok, old]), now=121.0)
    assert late == [old]
