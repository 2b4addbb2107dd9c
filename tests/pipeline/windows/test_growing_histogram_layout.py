"""A histogram whose layout only gains bounds (an OTLP exponential histogram whose range
grew) is read as a growing layout, not as a counter reset: the window's increase is exact."""

from __future__ import annotations

import pytest

from agents.otlp_metrics.exponential import ExponentialState, to_cumulative
from pipeline.windows import WindowStore
from schemas.records import MetricBatch, Sample, new_id


def _sample(state: ExponentialState, ts: float) -> Sample:
    return Sample(name="rpc_duration", type="histogram", value=state.count,
                  buckets=to_cumulative(state), sum=state.sum, ts=ts)  # fmt: skip


def _state(values: list[float]) -> ExponentialState:
    """Cumulative state of ``values`` at scale 3, bucket by bucket (what the agent keeps)."""
    import math

    state = ExponentialState(3)
    for v in values:
        index = math.ceil(math.log2(v) * 8) - 1  # (base^i, base^(i+1)] with base 2^(1/8)
        state.positive[index] = state.positive.get(index, 0.0) + 1
        state.count += 1
        state.sum += v
    return state


@pytest.mark.parametrize("fixed_layout", [False, True])
def test_window_increase_is_exact_when_the_layout_grows(fixed_layout: bool) -> None:
    early = [0.1, 0.1, 0.2]
    late = [0.1, 5.0, 9.0, 0.01]  # new buckets above and below the first layout
    store = WindowStore([10.0], grace=0.0)
    first = _state(early)
    second = _state(early + late)
    if fixed_layout:  # the old behaviour's case: same bounds in both
        first.positive.update({k: 0.0 for k in second.positive if k not in first.positive})
    assert {le for le, _ in to_cumulative(first)} <= {le for le, _ in to_cumulative(second)}
    for ts, state in ((95.0, first), (105.0, second)):
        batch = MetricBatch(id=new_id(), host="h", source="otlp_metrics", ts=ts,
                            samples=[_sample(state, ts)])  # fmt: skip
        store.add_batch(batch, now=ts)
    store.add_batch(
        MetricBatch(
            id=new_id(),
            host="h",
            source="x",
            ts=125.0,
            samples=[Sample(name="tick", value=0.0, ts=125.0)],
        ),
        now=125.0,
    )
    (agg,) = [a for a in store.close_due(now=125.0)
              if a.name == "rpc_duration" and a.window_start == 100.0]  # fmt: skip
    assert agg.observations == len(late)
    assert agg.observations_sum == pytest.approx(sum(late))
    increase = dict(agg.buckets or [])
    for le, count in increase.items():
        assert count == sum(v <= le for v in late), (le, increase)


def test_a_layout_that_loses_bounds_is_still_a_reset() -> None:
    store = WindowStore([10.0], grace=0.0)
    wide, narrow = _state([0.1, 5.0]), _state([0.1])
    for ts, state in ((95.0, wide), (105.0, narrow)):
        store.add_batch(MetricBatch(id=new_id(), host="h", source="s", ts=ts,
                                    samples=[_sample(state, ts)]), now=ts)  # fmt: skip
    store.add_batch(
        MetricBatch(
            id=new_id(),
            host="h",
            source="x",
            ts=125.0,
            samples=[Sample(name="tick", value=0.0, ts=125.0)],
        ),
        now=125.0,
    )
    (agg,) = [a for a in store.close_due(now=125.0)
              if a.name == "rpc_duration" and a.window_start == 100.0]  # fmt: skip
    assert agg.observations == 1  # restarted from the new point's own counts
