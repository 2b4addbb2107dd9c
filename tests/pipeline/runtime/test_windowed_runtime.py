"""The windowed-ingest runtime in process (no broker): dead letters, ack order, replay
skip, delivery failures, revocation and progress, with the windows stage's real logic."""

from __future__ import annotations

from pipeline.runtime.windowed_runtime import Delivered, Folded
from pipeline.windows.logic import MetricWindows
from schemas import MetricBatch, Sample, encode, new_id
from schemas.config.pipeline import PipelineConfig
from tests.pipeline.runtime.ingest_support import make_ingest, record

T0 = 1_000_000.0  # a window boundary
PC = PipelineConfig(window_seconds=[10], grace_seconds=1, idle_close_seconds=5)


def metrics(ts: float, value: float = 50.0, host: str = "h1", interval: float | None = None,
            name: str = "cpu") -> bytes:  # fmt: skip
    return encode(MetricBatch(id=new_id(), host=host, source="system", ts=ts, interval=interval,
                              samples=[Sample(name=name, value=value)]))  # fmt: skip


def windows(_topic: str, _partition: int) -> MetricWindows:
    return MetricWindows(PC)


async def test_a_bad_record_is_dead_lettered_and_acked_after_the_good_one_before_it() -> None:
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    await ingest.handle(record(0, metrics(T0 + 1)))
    await ingest.handle(record(1, b"not json"))
    assert [(r.offset, j.reason) for r, j in out.letters] == [(1, "not_json")]
    assert out.acked == []  # record 0's window is open; acks go in offset order
    clock.now = T0 + 12
    await ingest.handle(record(2, metrics(T0 + 12)))  # the watermark closes window 1
    assert out.acked == [0, 1]
    assert guard.counts["decode"] == 1 and guard.counts["errors"] == 0


class Exploding:
    def fold(self, record: Delivered, now: float) -> Folded:
        if record.value == b"boom":
            raise KeyError("a shape nobody foresaw")
        return Folded(float("-inf"))

    def close_due(self, now: float) -> list:
        return []

    def closed_through(self, now: float) -> float:
        return float("-inf")


async def test_an_unexpected_exception_dead_letters_the_record_and_counts_it() -> None:
    ingest, out, guard, _, _ = make_ingest(lambda *_: Exploding(), T0)
    await ingest.handle(record(0, b"boom"))
    await ingest.handle(record(1, b"fine"))
    ((letter_of, reject),) = out.letters
    assert letter_of.offset == 0 and reject.reason == "error" and reject.payload == b"boom"
    assert "a shape nobody foresaw" in reject.error
    assert guard.counts["errors"] == 1 and out.acked == [0, 1]


async def test_a_replayed_record_is_not_folded_twice() -> None:
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    await ingest.handle(record(0, metrics(T0 + 1, 10)))
    await ingest.handle(record(1, metrics(T0 + 2, 20)))
    await ingest.handle(record(1, metrics(T0 + 2, 20)))  # re-delivered after a seek
    clock.now = T0 + 14
    await ingest.handle(record(2, metrics(T0 + 14, 30)))
    (agg,) = [a for a in out.published if a.window_start == T0]
    assert (agg.count, agg.sum) == (2, 30)
    assert guard.counts["replayed"] == 1
    assert out.acked == [0, 1, 1]


async def test_a_record_dropped_before_the_stage_and_delivered_again_is_folded() -> None:
    """Faust 0.15.3 can drop fetched records around a rebalance and deliver them again
    after its seek: record 1 arrives after record 2 and was never folded."""
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    await ingest.handle(record(0, metrics(T0 + 1, 10)))
    await ingest.handle(record(2, metrics(T0 + 3, 30)))  # record 1 dropped on the way
    await ingest.handle(record(0, metrics(T0 + 1, 10)))  # the seek's replay
    await ingest.handle(record(1, metrics(T0 + 2, 20)))
    await ingest.handle(record(2, metrics(T0 + 3, 30)))
    clock.now = T0 + 14
    await ingest.handle(record(3, metrics(T0 + 14, 40)))
    (agg,) = [a for a in out.published if a.window_start == T0]
    assert (agg.count, agg.sum) == (3, 60)
    assert guard.counts["replayed"] == 2


async def test_a_dead_letter_that_cannot_be_sent_holds_the_ack_until_it_is_sent() -> None:
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    out.fail_letters = 2
    await ingest.handle(record(0, b"not json"))  # sent, failed, sent again: failed again
    assert guard.counts["deadletter_failed"] == 1 and out.letters == [] and out.acked == []
    await ingest.handle(record(1, b"not json either"))  # record 0's sent a third time
    assert guard.counts["deadletter_failed"] == 2
    assert [r.offset for r, _ in out.letters] == [1, 0]
    assert out.acked == []  # held, not skipped: record 1 waits behind record 0
    await ingest.tick({("t.metrics", 0)})  # the resend's delivery confirmed: both, in order
    assert out.acked == [0, 1]


async def test_acks_wait_for_the_delivery_of_the_windows_they_fed() -> None:
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    out.hold_deliveries = True
    await ingest.handle(record(0, metrics(T0 + 1)))
    clock.now = T0 + 12
    await ingest.handle(record(1, metrics(T0 + 12)))  # closes window 1, not delivered yet
    assert out.acked == []
    out.deliver()
    await ingest.tick({("t.metrics", 0)})
    assert out.acked == [0]


async def test_a_failed_delivery_is_counted_and_sent_again_before_any_ack() -> None:
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 1)
    out.fail_deliveries = 1
    await ingest.handle(record(0, metrics(T0 + 1)))
    clock.now = T0 + 12
    await ingest.handle(record(1, metrics(T0 + 12)))
    assert guard.counts["send_failed"] == 1
    (agg,) = [a for a in out.published if a.window_start == T0]  # the second attempt
    assert agg.count == 1
    assert out.acked == []  # the resend's delivery is confirmed at the next release
    await ingest.tick({("t.metrics", 0)})
    assert out.acked == [0]


async def test_a_revoked_partition_is_dropped_and_its_progress_forgotten() -> None:
    ingest, out, _, progress, _ = make_ingest(windows, T0 + 1)
    progress.watch("t.metrics")
    await ingest.handle(record(0, metrics(T0 + 1)))
    assert progress.processed[("t.metrics", 0)] == 1
    await ingest.tick(set())
    assert ingest.lanes == {} and out.acked == []  # the next owner replays it
    assert progress.stalled({("t.metrics", 0): 5}, T0 + 100) == []  # the clock restarts


async def test_samples_too_far_ahead_are_counted() -> None:
    ingest, _, guard, _, _ = make_ingest(windows, T0)
    await ingest.handle(record(0, metrics(T0 + 10_000)))  # beyond max_future_seconds
    assert guard.counts["future"] == 1


# -- findings of issue 10, through the windows stage's logic --


async def test_a_record_far_ahead_with_a_huge_interval_does_not_stall_other_hosts() -> None:
    """Finding 1: one record stamped 500 s ahead with ``interval: 86400`` closed the
    partition's windows for everyone for a day: the next host's samples were all late."""
    ingest, out, guard, _, clock = make_ingest(windows, T0)
    await ingest.handle(record(0, metrics(T0 + 500, host="fast", interval=86400)))
    for i, at in enumerate((T0 + 1, T0 + 6, T0 + 11)):
        clock.now = at
        await ingest.handle(record(1 + i, metrics(at, 97, host="web-1", interval=5)))
    assert guard.counts["late"] == 0
    (agg,) = [a for a in out.published if a.host == "web-1" and a.window_start == T0]
    assert (agg.count, agg.max) == (2, 97)  # closed by web-1's own promise, at once


async def test_a_new_hosts_first_record_is_not_late() -> None:
    """Finding 2: a host joining a partition whose windows other hosts' promises already
    closed lost its first collection as late."""
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 9)
    await ingest.handle(record(0, metrics(T0 + 9, host="old", interval=10)))  # promises T0+17
    await ingest.handle(record(1, metrics(T0 + 19, host="old", interval=10)))  # closes [T0, T0+10)
    clock.now = T0 + 19.5
    await ingest.handle(record(2, metrics(T0 + 8, 42, host="new", interval=10)))
    assert guard.counts["late"] == 0 and out.letters == []
    clock.now = T0 + 21
    await ingest.handle(record(3, metrics(T0 + 18, 43, host="new", interval=10)))
    (agg,) = [a for a in out.published if a.host == "new" and a.window_start == T0]
    assert (agg.count, agg.last) == (1, 42)
    # Late only against its own watermark: now it is, and it is dead-lettered.
    await ingest.handle(record(4, metrics(T0 + 2, 44, host="new", interval=10)))
    assert guard.counts["late"] == 1


async def test_an_idle_partition_keeps_no_entry_per_host_past_the_series_cap() -> None:
    """Finding 7: past the cap every new host's samples fold into overflow, but the store
    kept an empty entry per host name."""
    pc = PipelineConfig(window_seconds=[10], max_series_total=2, max_series_per_metric=2)
    logic = MetricWindows(pc)
    for i in range(50):
        logic.fold(record(i, metrics(T0 + 1, host=f"h{i}")), T0 + 1)
    store = logic.store
    assert store.series_count <= 4  # 2 admitted, plus overflow series
    assert len(store._hosts) <= 2 and len(store.host_watermarks) <= 2


async def test_a_new_host_that_goes_quiet_still_gets_its_window_out() -> None:
    """Its window was closed for the partition; no later record of its own closes it, the
    idle close does."""
    ingest, out, guard, _, clock = make_ingest(windows, T0 + 19)
    await ingest.handle(record(0, metrics(T0 + 19, host="old", interval=10)))
    await ingest.handle(record(1, metrics(T0 + 8, 42, host="new")))  # no promise, then quiet
    assert guard.counts["late"] == 0
    assert not [a for a in out.published if a.host == "new"]
    clock.now = T0 + 19 + PC.idle_close_seconds + 1
    await ingest.tick({("t.metrics", 0)})
    (agg,) = [a for a in out.published if a.host == "new"]
    assert (agg.window_start, agg.count, agg.last) == (T0, 1, 42)
