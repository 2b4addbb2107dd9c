"""The profiles stage's logic in the analytics loop, in process (no broker): reports in,
findings out; the topic's other records passed over (its own findings too); a replayed
report analysed once; anything else dead-lettered."""

from __future__ import annotations

from typing import Any

from pipeline.profiles.logic import ProfileLogic
from pipeline.runtime.analytics_runtime import AnalyticsLoop, ConfirmedTopic
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress
from pipeline.tables import WriteBehind
from schemas import decode, encode, new_id
from schemas.config.profiling import ProfileAnalysisConfig
from schemas.profiles import ProfileChunk, ProfileFinding, ProfileStatus
from schemas.records import MetricBatch
from tests.pipeline.profiles.report_support import cpu_report
from tests.pipeline.runtime.ingest_support import Msg, Topic

PROFILES = "t.profiles"
FINDINGS = object()  # the topic findings are sent to


def make() -> tuple[AnalyticsLoop, dict[str, Any], Topic, ProcessingGuard]:
    table: dict[str, Any] = {}
    state = WriteBehind(table, {}, "profiles", 60.0)
    guard, letters = ProcessingGuard("profiles"), Topic()
    logic = ProfileLogic(ProfileAnalysisConfig(), state, FINDINGS)

    async def on_record(record: Any, raw: bytes, msg: Any) -> list[Any]:
        return logic.on_record(record, msg.partition)

    loop = AnalyticsLoop(
        state, logic, guard, Progress(), deadletter=ConfirmedTopic(letters, guard, 0.01),
        batches="", on_record=on_record,
    )  # fmt: skip
    return loop, table, letters, guard


def msg(offset: int, partition: int = 1) -> Msg:
    return Msg(offset, topic=PROFILES, partition=partition, key=b"web-1")


async def test_report_with_hot_function_gives_a_bottleneck_finding_once() -> None:
    loop, table, letters, guard = make()
    report = cpu_report("web-1")
    found = await loop.handle(encode(report), msg(0))
    [finding] = found
    assert finding.topic is FINDINGS and finding.key == b"web-1"
    record = decode(finding.value)
    assert isinstance(record, ProfileFinding)
    assert (record.kind, record.subject, record.session) == (
        "bottleneck", "hot_function (target_app.py)", report.session,
    )  # fmt: skip
    # written through: the baseline and the replay guard are in the table already
    assert {"1|b|shop", f"1|r|{report.session}"} <= set(table)
    # a replay after a crash (effect flushed, offset not committed): nothing twice
    assert await loop.handle(encode(report), msg(0)) == []
    # its own finding, and the session's other records, are read and passed over
    status = ProfileStatus(id=new_id(), ts=1.0, host="web-1", session=report.session,
                           state="done")  # fmt: skip
    chunk = ProfileChunk(id=new_id(), ts=1.0, host="web-1", session=report.session, index=0,
                         count=1, format="collapsed",
                         data="main;hot_function 700\n")  # fmt: skip
    for i, value in enumerate([finding.value, encode(status), encode(chunk)], start=1):
        assert await loop.handle(value, msg(i)) == []
    assert letters.sent == [] and guard.counts.get("errors", 0) == 0


async def test_became_hot_against_the_last_session_after_a_deploy() -> None:
    loop, _, _, _ = make()
    await loop.handle(encode(cpu_report("web-1", "1.0", hot=0.05)), msg(0))
    found = [decode(f.value) for f in await loop.handle(encode(cpu_report("web-1", "1.1")), msg(1))]
    [hot] = [f for f in found if f.kind == "became_hot"]
    assert hot.after_deploy and (hot.baseline_version, hot.version) == ("1.0", "1.1")


async def test_other_records_and_bad_bytes_are_dead_lettered() -> None:
    loop, _, letters, guard = make()
    assert (
        await loop.handle(
            encode(MetricBatch(id=new_id(), host="web-1", source="system", ts=1.0, samples=[])),
            msg(0),
        )
        == []
    )
    assert await loop.handle(b"{not json", msg(1)) == []
    assert [letter.reason for letter in letters.sent] == ["unknown_schema", "not_json"]
    assert guard.counts["unknown_schema"] == 1
