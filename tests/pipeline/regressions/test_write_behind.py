"""WriteBehind (pipeline.tables), the analytics stages' state cache, over plain dicts in
place of Faust tables: one write per dirty key per flush, copies not live objects,
positions that make a replayed batch skippable only once its state is written, and acks
only behind delivered writes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.runtime.state import unwrap
from pipeline.tables import WriteBehind


@dataclass
class Counter:
    values: list[float] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Counter:
        return cls(**data)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache(table: dict, positions: dict, clock: Clock | None = None) -> WriteBehind:
    return WriteBehind(table, positions, "test", 10.0, clock=clock or Clock())


def test_many_changes_one_write_of_a_copy() -> None:
    table: dict[str, Any] = {}
    wb = cache(table, {})
    for v in range(5):
        wb.use(0, "s|a", Counter.restore, Counter).values.append(v)
    assert table == {}  # nothing written before a flush
    assert wb.flush() == 1
    assert table == {"0|s|a": {"~v": 1, "~s": {"values": [0, 1, 2, 3, 4]}}}  # versioned
    wb.use(0, "s|a", Counter.restore, Counter).values.append(5)
    assert table["0|s|a"]["~s"]["values"] == [0, 1, 2, 3, 4]  # a copy, not the live object
    assert wb.flush() == 1 and wb.flush() == 0


def test_restores_once_and_plain_values_are_copied() -> None:
    table: dict[str, Any] = {"1|s|a": {"values": [1.0]}, "1|h|web": {"used": 1}}
    wb = cache(table, {})
    st = wb.get(1, "s|a", Counter.restore)
    assert st == Counter([1.0]) and wb.get(1, "s|a", Counter.restore) is st
    host = wb.use(1, "h|web", None, dict)
    host["free"] = 2
    wb.flush()
    host["free"] = 3
    assert table["1|h|web"] == {"used": 1, "free": 2}
    assert wb.get(1, "s|missing", Counter.restore) is None


def test_put_none_deletes_and_keys_see_both_sides() -> None:
    table: dict[str, Any] = {"0|d|1": [1], "0|d|2": [2], "1|d|9": [9]}
    wb = cache(table, {})
    wb.put(0, "d|1", None)
    wb.put(0, "d|3", [3])
    assert wb.keys(0) == ["d|2", "d|3"]
    wb.flush()
    assert table == {"0|d|2": [2], "0|d|3": [3], "1|d|9": [9]}


def test_a_batch_is_replayed_only_once_its_state_is_written() -> None:
    table: dict[str, Any] = {}
    positions: dict[str, Any] = {}
    wb = cache(table, positions)
    wb.use(2, "s|a", Counter.restore, Counter).values.append(1.0)
    wb.applied(2, 7, 1000.0)
    # killed before a flush: neither the state nor the position is kept
    assert not cache(table, positions).replayed(2, 7, 1000.0)
    wb.flush()
    after = cache(table, positions)
    assert after.replayed(2, 7, 1000.0) and unwrap(positions["2|test"])["ranges"] == [[7, 7]]
    assert not after.replayed(2, 6, 990.0)  # below, but never applied (a dropped record)
    assert not after.replayed(2, 8, 1001.0)
    assert not after.replayed(1, 7, 1000.0)  # another partition
    assert not after.replayed(2, 7, 2000.0)  # a recreated topic: offsets restart, newer time
    assert after.get(2, "s|a", Counter.restore) == Counter([1.0])


class Stream:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def ack(self, event: str) -> None:
        self.log.append(f"ack {event}")


class Producer:
    def __init__(self, log: list[str], during: Any = None) -> None:
        self.log, self.during = log, during

    async def flush(self) -> None:
        self.log.append("delivered")
        if self.during is not None:
            self.during()


async def test_settle_acks_in_order_once_the_writes_are_delivered() -> None:
    clock, log, table = Clock(), [], {}
    wb = cache(table, {}, clock)
    stream = Stream(log)
    for e in ("a", "b"):
        wb.hold(stream, e)
        wb.use(0, "s|x", Counter.restore, Counter).values.append(1.0)
    assert not wb.due()
    wb.flush()  # a finding's flush writes, but acks nothing and does not reset the clock
    clock.now = 10.0
    assert log == [] and wb.due()
    await wb.settle(Producer(log))
    assert log == ["delivered", "ack a", "ack b"] and not wb.due()
    assert table["0|s|x"]["~s"] == {"values": [1.0, 1.0]}


async def test_records_held_across_a_rebalance_are_not_acked() -> None:
    log: list[str] = []
    wb = cache({}, {})
    wb.hold(Stream(log), "a")
    await wb.settle(Producer(log, during=wb.forget))  # revoked while the flush was in flight
    assert log == ["delivered"]
    wb.hold(Stream(log), "b")
    wb.forget()
    await wb.settle(Producer(log))
    assert log == ["delivered", "delivered"]


def test_forget_drops_live_objects() -> None:
    table: dict[str, Any] = {}
    wb = cache(table, {})
    wb.use(0, "s|a", Counter.restore, Counter).values.append(1.0)
    wb.flush()
    wb.forget()
    table["0|s|a"] = {"values": [9.0]}  # the partition's next owner wrote it
    assert wb.get(0, "s|a", Counter.restore) == Counter([9.0])
    assert wb.owns(0)  # not attached to a consumer: every partition


def test_partition_view_get_and_in_see_only_their_partition() -> None:
    from pipeline.tables import PartitionView

    table = {"1|a": 5, "2|b": 6}
    view = PartitionView(table, 1)
    assert "a" in view and "b" not in view and 3 not in view
    assert view.get("a") == 5 and view.get("b") is None and view.get("b", 0) == 0
