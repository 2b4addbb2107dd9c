"""Profiling records round-trip through the codec and validate against their JSON Schema."""

from __future__ import annotations

import orjson
import pytest
from jsonschema import Draft202012Validator

from schemas import decode, encode, schema_name
from schemas.errors import DecodeError
from schemas.jsonschema_files import load
from schemas.profiles import (
    AllocationSite,
    FunctionTime,
    HotPath,
    ProfileChunk,
    ProfileCommand,
    ProfileFinding,
    ProfileReport,
    ProfileStatus,
    SessionOverhead,
)

RECORDS = [
    ProfileCommand(id="c1", ts=1.0, host="h", action="start", expires_at=61.0, pid=42,
                   kind="memory", duration_seconds=30.0, rate_hz=50, requested_by="ops"),
    ProfileStatus(id="s1", ts=2.0, host="h", session="c1", state="refused",
                  reason="profiling is disabled on this host", pid=42),
    ProfileReport(
        id="r1", ts=3.0, host="h", session="c1", pid=42, kind="cpu", started=1.0, ended=3.0,
        process="python3", command="python3 app.py --token ***", service="shop",
        version="1.2", rate_hz=100, samples=200,
        functions=[FunctionTime(function="hot", file="app.py", line=3, self_samples=150,
                                total_samples=160, self_share=0.75, total_share=0.8)],
        hot_paths=[HotPath(frames=["<module> (app.py:1)", "hot (app.py:3)"], samples=150,
                           share=0.75)],
        allocations=[AllocationSite(site="app.py:9", sizes=[10, 20, 30], counts=[1, 2, 3],
                                    growth_bytes=20)],
        snapshots=3, rss_bytes=[100, 200], rss_ts=[1.0, 2.0], rss_growth_bytes=100,
        overhead=SessionOverhead(cpu_seconds=0.1, cpu_percent=5.0, max_rss_bytes=10**7,
                                 samples=200),
        raw_format="collapsed", raw_chunks=1, raw_bytes=30, notes=["x"],
    ),
    ProfileChunk(id="k1", ts=3.0, host="h", session="c1", index=0, count=1,
                 format="collapsed", data="a;b 3\n"),
    ProfileFinding(id="f1", ts=4.0, host="h", session="c1", kind="leak_suspect",
                   subject="app.py:9", severity="major", summary="grew", growth_bytes=20,
                   growth_per_hour=36000.0, snapshots=3),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip_and_schema(record) -> None:  # type: ignore[no-untyped-def]
    data = encode(record)
    assert decode(data) == record
    assert decode(data, type(record)) == record
    errors = list(Draft202012Validator(load(schema_name(type(record)))).iter_errors(
        orjson.loads(data)))  # fmt: skip
    assert not errors, [e.message for e in errors[:3]]


def test_bad_command_is_a_clear_error() -> None:
    bad = orjson.loads(encode(RECORDS[0]))
    bad["action"] = "explode"
    with pytest.raises(DecodeError) as err:
        decode(orjson.dumps(bad), ProfileCommand)
    assert err.value.path == "$.action"
