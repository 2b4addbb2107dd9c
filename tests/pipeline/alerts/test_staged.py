"""Alerting survives one bad aggregate, and sends before it commits (issue 10, finding 6)."""

from __future__ import annotations

import base64

import jsonschema
import msgspec
import orjson
import pytest

from pipeline.alerts import parse_rules
from pipeline.alerts.engine import alert_id
from pipeline.alerts.staged import (
    EVALUATION_FAILED,
    Staged,
    evaluate_each,
    send_then_commit,
    tick_each,
)
from schemas import encode
from schemas.jsonschema_files import load
from schemas.records import Alert
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

RULES = """
rules:
  - name: HighCpu
    metric: cpu
    thresholds: {critical: 90}
"""


def _closed_with_a_poisoned_one() -> list:
    good = [agg("cpu", 97.0, 10.0, host=h) for h in ("h1", "h2", "h3")]
    # A bug anywhere upstream (here: a statistic that is not a number) must not cost the
    # alerts of every other series closed with it.
    poisoned = msgspec.structs.replace(agg("cpu", 97.0, 10.0, host="h4"), mean="n/a")
    return [good[0], poisoned, *good[1:]]


def test_one_aggregate_that_raises_costs_no_other_alert() -> None:
    states = ChangelogDict()
    out = evaluate_each(parse_rules(RULES), _closed_with_a_poisoned_one(), states, 11.0)
    assert sorted(a.labels["host"] for a in out.alerts) == ["h1", "h2", "h3"]
    assert {a.status for a in out.alerts} == {"firing"}
    [failed] = out.failed
    assert failed.aggregate.host == "h4"
    assert failed.error.startswith("ValueError")
    # The failed one left no state behind; the others' states are there.
    assert sorted(v["labels"]["host"] for v in states.values() if "labels" in v) == [
        "h1", "h2", "h3",
    ]  # fmt: skip


def test_a_failed_aggregate_is_dead_lettered_with_its_bytes_and_reason() -> None:
    out = evaluate_each(parse_rules(RULES), _closed_with_a_poisoned_one(), ChangelogDict(), 11.0)
    record = out.failed[0].dead_letter("toka.aggregates", partition=3)
    jsonschema.validate(orjson.loads(encode(record)), load("toka.dead_letter.v1"))
    assert record.reason == EVALUATION_FAILED
    assert "could not convert" in record.error
    assert record.partition == 3 and record.source_topic == "toka.aggregates"
    original = orjson.loads(base64.b64decode(record.original_b64))
    assert original["host"] == "h4" and original["mean"] == "n/a"


def test_a_half_evaluated_aggregate_keeps_none_of_its_changes() -> None:
    # Two rules read cpu; the second raises after the first changed its state.
    rules = parse_rules(RULES + "  - name: Other\n    metric: cpu\n    thresholds: {high: 50}\n")
    states = ChangelogDict()

    class Boom(dict):  # a rule instance state from who knows where, failing on read
        def __getitem__(self, key: str) -> object:
            raise RuntimeError("corrupt state")

    good = agg("cpu", 97.0, 10.0)
    second = next(r for r in rules._routes.get(good) if r.rule.name == "Other")
    layer = Staged(states)
    layer[second.key] = Boom(t=None)
    out = evaluate_each(rules, [good], layer, 11.0)
    assert out.alerts == [] and len(out.failed) == 1
    assert [k for k in layer if k != second.key] == []  # HighCpu's change was dropped


class _Crash(Exception):
    pass


async def test_send_then_commit_a_crash_before_delivery_keeps_the_old_state() -> None:
    rules = parse_rules(RULES)
    states = ChangelogDict()
    order: list[str] = []

    async def crash(alerts: list[Alert]) -> None:
        raise _Crash  # the worker dies while sending

    staged = Staged(states)
    first = evaluate_each(rules, [agg("cpu", 97.0, 10.0)], staged, 11.0)
    with pytest.raises(_Crash):
        await send_then_commit(first.alerts, staged, crash, lambda: _record(order, "commit"))
    assert len(states) == 0 and order == []  # nothing durable: the alert is not lost

    # The successor replays the same closed window: the same alert, under the same id.
    async def send(alerts: list[Alert]) -> None:
        order.extend(f"send {a.id}" for a in alerts)

    staged = Staged(states)
    again = evaluate_each(rules, [agg("cpu", 97.0, 10.0)], staged, 12.0)
    await send_then_commit(again.alerts, staged, send, lambda: _record(order, "commit"))
    [alert] = again.alerts
    assert alert.id == first.alerts[0].id
    assert order == [f"send {alert.id}", "commit"]
    assert len(states) == 2  # the instance and its group, applied after the send


async def _record(order: list[str], what: str) -> None:
    order.append(what)


def test_alert_ids_come_from_fingerprint_status_and_starts_at() -> None:
    rules = parse_rules(RULES)
    states = ChangelogDict()
    [firing] = rules.evaluate(agg("cpu", 97.0, 10.0), states, 11.0)
    [resolved] = rules.evaluate(agg("cpu", 10.0, 20.0), states, 21.0)
    assert firing.id == alert_id(firing.fingerprint, "firing", firing.startsAt)
    assert resolved.id == alert_id(firing.fingerprint, "resolved", firing.startsAt)
    assert firing.id != resolved.id
    # The same change computed at another wall-clock time (a resolve by the timer after a
    # restart) keeps its id.
    states2 = ChangelogDict()
    rules.evaluate(agg("cpu", 97.0, 10.0), states2, 50.0)
    [later] = rules.evaluate(agg("cpu", 10.0, 20.0), states2, 99.0)
    assert later.id == resolved.id


def test_staged_reads_its_own_writes_and_applies_them_in_order() -> None:
    base = {"a": 1, "b": 2}
    staged = Staged(base)
    staged["c"] = 3
    del staged["a"]
    staged["b"] = 20
    assert dict(staged) == {"b": 20, "c": 3} and "a" not in staged and staged.get("a") is None
    assert base == {"a": 1, "b": 2}
    with pytest.raises(KeyError):
        del staged["a"]
    staged.apply()
    assert base == {"b": 20, "c": 3} and staged.changed == 0


def test_an_integer_format_of_an_overflowed_value_renders_instead_of_raising() -> None:
    # printf "%d" of an infinity raised OverflowError inside the engine: a poison per close.
    from pipeline.alerts.templating import render

    assert render('{{ $value | printf "%d" }}', {}, {"value": float("inf")}) == "inf"


def test_one_instance_the_timer_cannot_advance_costs_no_other_its_transition() -> None:
    rules = parse_rules(
        RULES.replace("thresholds: {critical: 90}", "thresholds: {critical: 90}\n    for: 20s")
    )
    states = ChangelogDict()
    for host in ("h1", "h2"):  # both pending: they fire by the clock, 20 s on
        assert rules.evaluate(agg("cpu", 97.0, 10.0, host=host), states, 11.0) == []
    [broken] = [k for k in states if states[k].get("labels", {}).get("host") == "h2"]
    states[broken] = {k: v for k, v in states[broken].items() if k != "up"}  # an old format
    before = states[broken]
    out = tick_each(rules, states, 40.0)
    assert [(a.labels["host"], a.status) for a in out.alerts] == [("h1", "firing")]
    assert [key for key, _ in out.failed_instances] == [broken]
    assert states[broken] == before  # left as it was, for the next tick or a fix
