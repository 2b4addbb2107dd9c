"""Sampled spans count right: the agent's SpanBatch carries its sampling probability and the
RED sums scale by it, so toka_span_calls estimates the real traffic at the specification's
0.1 rate, within the estimator's 99% bound (fixed seed)."""

from __future__ import annotations

import math
import random

import pytest

from agents.selfmetrics import AgentMetrics
from agents.spans.intake import SpanIntake
from agents.spans.sampling import TraceSampler
from pipeline.spans import SpanWindows
from pipeline.spans.core import CALLS, DURATION, ERRORS
from pipeline.windows import WindowStore
from schemas import SpanBatch, decode
from schemas.records import Span

RATE = 0.1
Z99 = 2.576  # two-sided 99% quantile of the normal distribution


def _traffic(n: int, error_share: float, seed: int) -> list[Span]:
    rng = random.Random(seed)
    spans = []
    for i in range(n):
        end = int((100.0 + 9.0 * i / n) * 1e9)
        spans.append(Span(
            trace_id=f"{rng.getrandbits(128):032x}", span_id=f"{rng.getrandbits(64):016x}",
            name="GET /cart", start_ns=end - 50_000_000, end_ns=end,
            status="error" if rng.random() < error_share else "ok",
        ))  # fmt: skip
    return spans


def _red_through_the_agent(spans: list[Span], rate: float) -> tuple[dict, list[SpanBatch]]:
    out: list = []
    intake = SpanIntake(host="h1", topic="toka.spans", emit=out.append, metrics=AgentMetrics(),
                        sampler=TraceSampler(rate), max_spans=500)  # fmt: skip
    intake.add([({"service.name": "shop"}, spans)])
    intake.flush_all()
    batches = [decode(rec.value, SpanBatch) for rec in out]
    windows = SpanWindows(WindowStore([10.0], grace=0.0))
    for batch in batches:
        windows.add(batch, now=110.0)
    windows.add(SpanBatch(id="tick", host="h1", spans=[Span(
        trace_id="0" * 32, span_id="0" * 16, name="tick", start_ns=130 * 10**9,
        end_ns=130 * 10**9)], resource={"service.name": "shop"}), now=130.0)  # fmt: skip
    aggs = windows.close_due(now=130.0)
    return {a.name: a for a in aggs if a.labels.get("operation") == "GET /cart"}, batches


@pytest.mark.parametrize("seed", [7, 2024])
def test_calls_and_errors_estimate_the_real_traffic_within_the_99_percent_bound(
    seed: int,
) -> None:
    n, error_share = 20_000, 0.05
    spans = _traffic(n, error_share, seed)
    errors = sum(s.status == "error" for s in spans)
    red, batches = _red_through_the_agent(spans, RATE)

    assert batches and all(b.sample_rate == RATE for b in batches)
    kept = sum(len(b.spans) for b in batches)
    assert kept < n / 5  # it did sample
    # kept ~ Binomial(n, p); the estimate kept / p has variance n (1 - p) / p.
    calls = red[CALLS].sum
    assert calls == pytest.approx(kept / RATE)
    assert abs(calls - n) <= Z99 * math.sqrt(n * (1 - RATE) / RATE), (calls, n)
    est_errors = red[ERRORS].sum
    assert abs(est_errors - errors) <= Z99 * math.sqrt(errors * (1 - RATE) / RATE), (
        est_errors, errors,
    )  # fmt: skip
    assert red[DURATION].p50 == pytest.approx(0.05, rel=0.01)  # durations are not weighted


def test_unsampled_batches_count_each_span_once() -> None:
    spans = _traffic(1000, 0.1, seed=1)
    red, batches = _red_through_the_agent(spans, 1.0)
    assert all(b.sample_rate == 1.0 for b in batches)
    assert red[CALLS].sum == 1000 == red[CALLS].count
    assert red[ERRORS].sum == sum(s.status == "error" for s in spans)


def test_the_unscaled_count_would_miss_by_ten_times() -> None:
    """Before SpanBatch carried its rate, calls were the sample's size: 10x too few."""
    spans = _traffic(20_000, 0.05, seed=7)
    red, batches = _red_through_the_agent(spans, RATE)
    assert red[CALLS].count == sum(len(b.spans) for b in batches)
    assert red[CALLS].count < 0.2 * red[CALLS].sum


def test_sampled_batches_validate_against_their_json_schema() -> None:
    import orjson
    from jsonschema import Draft202012Validator

    from schemas.jsonschema_files import load

    _, batches = _red_through_the_agent(_traffic(200, 0.1, seed=3), RATE)
    validator = Draft202012Validator(load("toka.span_batch.v1"))
    for batch in batches:
        from schemas import encode

        doc = orjson.loads(encode(batch))
        assert doc["sample_rate"] == RATE
        assert not list(validator.iter_errors(doc))
    assert list(validator.iter_errors({**doc, "sample_rate": 0}))  # a rate must be > 0
