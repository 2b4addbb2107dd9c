"""The system source: pure mapping from psutil snapshots, and a real collection."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from agents.sources.processes import ProcessRow, top_samples
from agents.sources.system import SystemSnapshot, SystemSource, snapshot_samples


def _snapshot() -> SystemSnapshot:
    return SystemSnapshot(
        cpu_percent=42.0,
        per_core=[40.0, 44.0],
        memory=NS(percent=61.5, used=6e9, available=4e9, total=10e9),
        swap=NS(percent=1.0, used=1e6),
        disks={"/": NS(percent=50.0, used=5e10, total=1e11)},
        disk_io={
            "sda": NS(
                read_bytes=1,
                write_bytes=2,
                read_count=3,
                write_count=4,
                read_time=5000,
                write_time=6000,
                busy_time=7000,
            )
        },  # fmt: skip
        net_io={
            "eth0": NS(
                bytes_recv=10,
                bytes_sent=20,
                packets_recv=1,
                packets_sent=2,
                errin=3,
                errout=4,
                dropin=5,
                dropout=6,
            )
        },  # fmt: skip
        load=(0.5, 0.4, 0.3),
        cpu_stats=NS(ctx_switches=1000, interrupts=2000),
    )


def test_snapshot_samples():
    by = {(s.name, tuple(sorted(s.labels.items()))): s for s in snapshot_samples(_snapshot())}
    assert by[("system_cpu_percent", ())].value == 42.0
    assert by[("system_memory_percent", ())].value == 61.5
    assert by[("system_cpu_core_percent", (("core", "1"),))].value == 44.0
    assert by[("system_disk_used_percent", (("mount", "/"),))].value == 50.0
    io = by[("system_disk_read_time_seconds_total", (("device", "sda"),))]
    assert io.value == 5.0 and io.type == "counter"
    assert by[("system_network_receive_drops_total", (("interface", "eth0"),))].value == 5
    assert by[("system_load15", ())].value == 0.3
    assert by[("system_context_switches_total", ())].type == "counter"


def test_top_processes_union_of_cpu_and_memory():
    rows = [
        ProcessRow(1, "busy", "busy --x", 90.0, 10, 1, 3),
        ProcessRow(2, "fat", "fat", 0.1, 10_000, 4, None),
        ProcessRow(3, "idle", "idle", 0.0, 5, 1, 1),
    ]
    samples = top_samples(rows, 1)
    pids = {s.labels["pid"] for s in samples}
    assert pids == {"1", "2"}
    rss = {s.labels["name"]: s.value for s in samples if s.name == "process_resident_memory_bytes"}
    assert rss == {"busy": 10.0, "fat": 10_000.0}
    info = [s for s in samples if s.name == "process_info"]
    assert {s.labels["cmdline"] for s in info} == {"busy --x", "fat"}
    assert not any(s.name == "process_open_fds" and s.labels["pid"] == "2" for s in samples)


@pytest.mark.parametrize("top", [0, 3])
async def test_real_collection(top: int):
    src = SystemSource(interval=1, top_processes=top, exclude_fstypes=["tmpfs"])
    samples = await src.collect()
    names = {s.name for s in samples}
    assert {"system_cpu_percent", "system_memory_percent", "system_load1"} <= names
    assert ("process_resident_memory_bytes" in names) == bool(top)
    for s in samples:
        assert s.value == s.value  # no NaN


def test_cpu_percent_from_times():
    from collections import namedtuple

    from agents.sources.system import cpu_percent

    T = namedtuple("T", "user system idle iowait guest")
    assert cpu_percent(T(10, 5, 80, 5, 2), T(40, 15, 120, 5, 3)) == 50.0  # 40 busy of 80
    assert cpu_percent(T(1, 1, 1, 0, 0), T(1, 1, 1, 0, 0)) == 0.0


async def test_busy_cpu_is_seen_from_any_thread():
    """A regression: psutil.cpu_percent(None) keeps state per thread, and collections run on
    executor threads, so it reported 0% on a busy machine."""
    import os
    import subprocess
    import sys

    src = SystemSource(interval=1, top_processes=0)
    burn = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        await src.collect()
        samples = await src.collect()
    finally:
        burn.kill()
        burn.wait()
    [cpu] = [s for s in samples if s.name == "system_cpu_percent"]
    assert cpu.value > 40.0 / (os.cpu_count() or 1)  # one of its cores was spinning
