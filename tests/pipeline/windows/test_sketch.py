"""The quantile sketch: relative-error bound against numpy's exact percentiles, merging."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.windows import DDSketch, WindowStore

from .helpers import batch, sample

QS = [0.5, 0.9, 0.95, 0.99]
ALPHA = 0.01


def exact(values: np.ndarray) -> np.ndarray:
    # The sketch answers the value at rank q*(n-1) rounded down: numpy's method="lower".
    return np.quantile(values, QS, method="lower")


DISTRIBUTIONS = {
    "lognormal": lambda rng, n: rng.lognormal(0.0, 2.0, n),
    "uniform": lambda rng, n: rng.uniform(0.0, 100.0, n),
    "pareto": lambda rng, n: rng.pareto(1.5, n) + 1e-3,
    "normal_signed": lambda rng, n: rng.normal(0.0, 50.0, n),
    "latency_ms": lambda rng, n: rng.gamma(2.0, 40.0, n),
}


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("n", [10, 1_000, 100_000])
def test_relative_error_within_alpha(dist: str, n: int) -> None:
    rng = np.random.default_rng(hash((dist, n)) % 2**32)
    values = DISTRIBUTIONS[dist](rng, n)
    sk = DDSketch(ALPHA).add_many(values.tolist())
    got = np.array(sk.quantiles(QS), dtype=float)
    want = exact(values)
    assert np.all(np.abs(got - want) <= ALPHA * np.abs(want) + 1e-12), (got, want)


@pytest.mark.parametrize("parts", [2, 7])
def test_merge_equals_sketch_of_union(parts: int) -> None:
    rng = np.random.default_rng(parts)
    values = rng.lognormal(1.0, 1.5, 20_000)
    whole = DDSketch(ALPHA).add_many(values.tolist())
    merged = DDSketch(ALPHA)
    for chunk in np.array_split(values, parts):
        merged.merge(DDSketch(ALPHA).add_many(chunk.tolist()))
    assert merged.pos == whole.pos and merged.neg == whole.neg and merged.zero == whole.zero
    assert merged.quantiles(QS) == whole.quantiles(QS)


def test_python_and_numpy_paths_agree_and_round_trip() -> None:
    values = np.random.default_rng(3).normal(5, 10, 500).tolist() + [0.0, 0.0]
    a = DDSketch(ALPHA)
    a._add_py(values)
    b = DDSketch(ALPHA)
    b._add_np(np.asarray(values))
    assert (a.pos, a.neg, a.zero) == (b.pos, b.neg, b.zero)
    c = DDSketch.from_dict(a.to_dict())
    assert c.quantiles(QS) == a.quantiles(QS)


def test_memory_is_bounded_for_extreme_ranges() -> None:
    values = np.logspace(-8, 12, 50_000)
    sk = DDSketch(ALPHA).add_many(values.tolist())
    assert len(sk.pos) <= 2048
    got = sk.quantiles([0.99])[0]
    assert got == pytest.approx(exact(values)[3], rel=ALPHA)


def test_window_percentiles_within_alpha_with_buffer_flushes() -> None:
    rng = np.random.default_rng(11)
    values = rng.gamma(2.0, 40.0, 3000)  # > the per-pane buffer: exercises flushes
    store = WindowStore([10.0], grace=0.0)
    ts = np.linspace(100.0, 109.9, values.size)
    for chunk_v, chunk_t in zip(np.array_split(values, 30), np.array_split(ts, 30), strict=True):
        samples = [
            sample("lat", float(v), ts=float(t)) for v, t in zip(chunk_v, chunk_t, strict=True)
        ]
        store.add_batch(batch(float(chunk_t[-1]), samples), now=110.0)
    store.add_batch(batch(111.0, [sample("lat", 1.0)]), now=111.0)
    (agg,) = store.close_due(now=111.0)
    want = exact(values)
    got = np.array([agg.p50, agg.p90, agg.p95, agg.p99])
    assert np.all(np.abs(got - want) <= ALPHA * want)
    assert agg.count == values.size


def test_hopping_window_percentiles_are_the_exact_merge_of_panes() -> None:
    rng = np.random.default_rng(5)
    store = WindowStore([30.0], grace=0.0, hop=10.0)
    vals = {}
    for t in range(100, 160):
        v = rng.lognormal(2, 1, 40)
        vals[t] = v
        store.add_batch(batch(float(t), [sample("lat", float(x)) for x in v]), now=float(t))
    store.add_batch(batch(200.0, [sample("lat", 1.0)]), now=200.0)
    aggs = [a for a in store.close_due(now=200.0) if a.window_start == 120.0]
    (agg,) = aggs
    union = np.concatenate([vals[t] for t in range(120, 150)])
    ref = DDSketch(ALPHA).add_many(union.tolist())
    assert [agg.p50, agg.p90, agg.p95, agg.p99] == ref.quantiles(QS)


def test_emitted_sketches_merge_exactly_across_partitions_and_validate() -> None:
    import json

    import jsonschema

    from schemas import decode, encode
    from schemas.jsonschema_files import JSON_DIR
    from schemas.records import WindowAggregate

    rng = np.random.default_rng(9)
    values = rng.gamma(2.0, 40.0, (2, 400))
    aggs = []
    for part in range(2):  # the same series name, two hosts on two partitions
        store = WindowStore([10.0], grace=0.0, emit_sketches=True)
        ts = np.linspace(100.0, 109.9, 400)
        for v, t in zip(values[part], ts, strict=True):
            store.add_batch(batch(float(t), [sample("lat", float(v))], host=f"h{part}"), now=110.0)
        store.add_batch(batch(111.0, [sample("lat", 1.0)], host=f"h{part}"), now=111.0)
        (agg,) = store.close_due(now=111.0)
        aggs.append(decode(encode(agg), WindowAggregate))  # survives the wire format
    schema = json.loads((JSON_DIR / "toka.window_aggregate.v1.json").read_text())
    for agg in aggs:
        jsonschema.validate(json.loads(encode(agg)), schema)
    merged = DDSketch.from_dict(aggs[0].sketch).merge(DDSketch.from_dict(aggs[1].sketch))
    union = DDSketch(ALPHA).add_many(values.ravel().tolist())
    assert (merged.pos, merged.neg, merged.zero) == (union.pos, union.neg, union.zero)
    got = np.array(merged.quantiles(QS))
    want = exact(values.ravel())
    assert np.all(np.abs(got - want) <= ALPHA * want)


def test_no_sketch_unless_asked_or_for_single_values() -> None:
    store = WindowStore([10.0], grace=0.0, emit_sketches=True)
    store.add_batch(batch(101.0, [sample("a", 1.0), sample("b", 1.0)]), now=101.0)
    store.add_batch(batch(102.0, [sample("b", 2.0)]), now=102.0)
    store.add_batch(batch(111.0, [sample("c", 1.0)]), now=111.0)
    got = {a.name: a.sketch for a in store.close_due(now=111.0)}
    assert got["a"] is None and got["b"] is not None
    plain = WindowStore([10.0], grace=0.0)
    plain.add_batch(batch(101.0, [sample("b", 1.0), sample("b", 2.0)]), now=101.0)
    plain.add_batch(batch(111.0, [sample("c", 1.0)]), now=111.0)
    assert [a.sketch for a in plain.close_due(now=111.0)] == [None]
