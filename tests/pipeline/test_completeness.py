"""Completeness: windows close on the sources' promises, the slowest active one rules."""

from __future__ import annotations

import math

from pipeline.windows.completeness import Completeness


def test_one_source_promises_until_its_next_collection() -> None:
    c = Completeness(grace=5, idle_after=30, jitter=0.2)
    c.observe("web-1", "system", ts=100.0, interval=10.0, now=100.1)
    assert c.complete_until(now=100.2) == 108.0


def test_the_slowest_active_source_rules_the_partition() -> None:
    c = Completeness(grace=5, idle_after=30, jitter=0.0)
    c.observe("web-1", "system", ts=100.0, interval=10.0, now=100.0)
    c.observe("web-2", "system", ts=95.0, interval=10.0, now=100.0)
    assert c.complete_until(now=100.0) == 105.0
    c.observe("web-2", "system", ts=105.0, interval=10.0, now=110.0)
    assert c.complete_until(now=110.0) == 110.0


def test_a_source_without_interval_counts_as_the_watermark_rule() -> None:
    c = Completeness(grace=5, idle_after=30)
    c.observe("web-1", "system", ts=100.0, interval=10.0, now=100.0)
    c.observe("demo", "synthetic", ts=100.0, interval=None, now=100.0)
    assert c.complete_until(now=100.0) == 95.0


def test_silent_sources_stop_holding_the_partition_back() -> None:
    c = Completeness(grace=5, idle_after=30, jitter=0.0)
    c.observe("gone", "system", ts=10.0, interval=10.0, now=10.0)
    c.observe("web-1", "system", ts=100.0, interval=10.0, now=100.0)
    assert c.complete_until(now=39.0) == 20.0
    assert c.complete_until(now=41.0) == 110.0
    assert c.complete_until(now=131.0) == -math.inf


def test_an_out_of_order_record_keeps_the_promise_made() -> None:
    c = Completeness(grace=5, idle_after=30, jitter=0.0)
    c.observe("web-1", "system", ts=100.0, interval=10.0, now=100.0)
    c.observe("web-1", "system", ts=90.0, interval=10.0, now=101.0)  # a spool replay
    assert c.complete_until(now=101.0) == 110.0
