"""Every record we emit matches its JSON Schema, also when arithmetic overflowed (issue 10,
finding 6): infinities saturate, an optional NaN is left out, a required NaN is refused."""

from __future__ import annotations

import math
import sys
import typing
from typing import Any

import jsonschema
import msgspec
import orjson
import pytest

from pipeline.alerts import parse_rules
from pipeline.windows import WindowStore
from schemas import encode
from schemas.codec import RECORD_TYPES, decode
from schemas.errors import NonFiniteError
from schemas.finite import LARGEST, finite
from schemas.jsonschema_files import load
from schemas.records import WindowAggregate
from tests.pipeline.alerts.alert_helpers import ChangelogDict
from tests.pipeline.windows.helpers import gauge_batch

INF = math.inf


def build(t: Any, number: float) -> Any:
    """A value of type ``t`` with every float in it (required or not) set to ``number``."""
    mi = msgspec.inspect
    info = t if isinstance(t, mi.Type) else mi.type_info(t)
    if isinstance(info, mi.FloatType):
        # A bounded field (a probability) never holds an infinity: give it a valid value.
        for bound, inside in ((info.le, 0.0), (info.ge, 0.0), (info.lt, -1.0), (info.gt, 1.0)):
            if bound is not None:
                return bound + inside
        return number
    if isinstance(info, mi.IntType):
        return 1
    if isinstance(info, mi.StrType):
        return "x"
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.UnionType):
        chosen = next((x for x in info.types if not isinstance(x, mi.NoneType)), info.types[0])
        return build(chosen, number)
    if isinstance(info, mi.ListType):
        return [build(info.item_type, number)]
    if isinstance(info, mi.TupleType):
        return tuple(build(x, number) for x in info.item_types)
    if isinstance(info, mi.DictType):
        return {"k": build(info.value_type, number)}
    if isinstance(info, mi.StructType):
        return info.cls(**{f.name: build(f.type, number) for f in info.fields})
    if isinstance(info, mi.AnyType):
        return {"nested": [number]}
    return None


@pytest.mark.parametrize("number", [INF, -INF, 1e308 * 10])
@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
def test_every_record_with_infinities_validates(name: str, number: float) -> None:
    record = build(RECORD_TYPES[name], number)
    raw = encode(record)
    jsonschema.validate(orjson.loads(raw), load(name))
    assert b"null" not in raw
    assert decode(raw, RECORD_TYPES[name]) is not None  # and our own stages read it back


def test_saturation_keeps_the_sign_and_finite_values() -> None:
    agg = build(WindowAggregate, 2.5)
    over = msgspec.structs.replace(agg, sum=INF, min=-INF, buckets=[(1.0, INF)])
    fixed = finite(over)
    assert (fixed.sum, fixed.min, fixed.max) == (LARGEST, -LARGEST, 2.5)
    assert fixed.buckets == [(1.0, LARGEST)]
    assert finite(agg) is agg  # nothing to change: the same object, no copy


def test_an_optional_nan_is_left_out_a_required_one_is_refused() -> None:
    agg = build(WindowAggregate, 2.5)
    raw = encode(msgspec.structs.replace(agg, rate=math.nan, p99=math.nan))
    out = orjson.loads(raw)
    assert "rate" not in out and "p99" not in out and out["p50"] == 2.5
    jsonschema.validate(out, load("toka.window_aggregate.v1"))
    with pytest.raises(NonFiniteError, match=r"\$\.mean"):
        encode(msgspec.structs.replace(agg, mean=math.nan))


def test_a_sum_that_overflows_still_closes_a_valid_window_and_fires_its_alert() -> None:
    # Two samples of 1e308 in one window: the sum (and the mean taken from it) overflow.
    store = WindowStore([10.0], grace=0.0)
    for ts in (1000.5, 1001.5):
        store.add_batch(gauge_batch(ts, 1e308, name="queue_bytes"), now=ts)
    store.add_batch(gauge_batch(1010.5, 1.0, name="queue_bytes"), now=1010.5)
    [agg] = store.close_due(now=1011.0)
    assert agg.sum == INF  # what the arithmetic gives...
    out = orjson.loads(encode(agg))  # ...and what leaves the pipeline
    jsonschema.validate(out, load("toka.window_aggregate.v1"))
    assert out["sum"] == sys.float_info.max and out["max"] == 1e308

    rules = parse_rules("rules:\n  - name: Huge\n    metric: queue_bytes\n    field: sum\n"
                        "    thresholds: {critical: 1000000}\n")  # fmt: skip
    [alert] = rules.evaluate(agg, ChangelogDict(), 1011.0)
    assert alert.status == "firing"
    sent = orjson.loads(encode(alert))
    jsonschema.validate(sent, load("toka.alert.v1"))
    assert sent["value"] == sys.float_info.max


def test_build_covers_every_float_of_every_record() -> None:
    # The test above means "every emitted record" only if build() reaches each float.
    for name, cls in RECORD_TYPES.items():
        raw = orjson.loads(msgspec.json.encode(build(cls, 7.25)))
        assert 7.25 in _floats(raw) or not _has_float_field(cls), name


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, list):
        return [x for v in value for x in _floats(v)]
    return []


def _has_float_field(cls: type) -> bool:
    return "float" in str(typing.get_type_hints(cls))
