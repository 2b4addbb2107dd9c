"""System metrics from psutil: CPU, memory, swap, disks, network, load, context switches.

``read_snapshot`` is the only I/O; ``snapshot_samples`` turns a snapshot into samples and
is tested with hand-made snapshots. Names are the ones the default alert rules expect.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from agents.sources.processes import ProcessTable
from schemas.records import Sample

__all__ = ["SystemSnapshot", "SystemSource", "cpu_percent", "read_snapshot", "snapshot_samples"]


@dataclass(slots=True)
class SystemSnapshot:
    cpu_percent: float
    per_core: list[float]
    memory: Any  # psutil svmem
    swap: Any  # psutil sswap
    disks: dict[str, Any] = field(default_factory=dict)  # mount -> sdiskusage
    disk_io: dict[str, Any] = field(default_factory=dict)  # device -> sdiskio
    net_io: dict[str, Any] = field(default_factory=dict)  # interface -> snetio
    load: tuple[float, float, float] | None = None
    cpu_stats: Any = None  # psutil scpustats


def _g(name: str, value: float, **labels: str) -> Sample:
    return Sample(name=name, value=float(value), type="gauge", labels=labels)


def _c(name: str, value: float, **labels: str) -> Sample:
    return Sample(name=name, value=float(value), type="counter", labels=labels)


def snapshot_samples(s: SystemSnapshot) -> list[Sample]:
    out = [
        _g("system_cpu_percent", s.cpu_percent),
        _g("system_memory_percent", s.memory.percent),
        _g("system_memory_used_bytes", s.memory.used),
        _g("system_memory_available_bytes", s.memory.available),
        _g("system_memory_total_bytes", s.memory.total),
        _g("system_swap_percent", s.swap.percent),
        _g("system_swap_used_bytes", s.swap.used),
    ]
    out += [_g("system_cpu_core_percent", v, core=str(i)) for i, v in enumerate(s.per_core)]
    for mount, u in s.disks.items():
        out += [
            _g("system_disk_used_percent", u.percent, mount=mount),
            _g("system_disk_used_bytes", u.used, mount=mount),
            _g("system_disk_total_bytes", u.total, mount=mount),
        ]
    for dev, d in s.disk_io.items():
        out += [
            _c("system_disk_read_bytes_total", d.read_bytes, device=dev),
            _c("system_disk_written_bytes_total", d.write_bytes, device=dev),
            _c("system_disk_reads_total", d.read_count, device=dev),
            _c("system_disk_writes_total", d.write_count, device=dev),
            _c("system_disk_read_time_seconds_total", d.read_time / 1000, device=dev),
            _c("system_disk_write_time_seconds_total", d.write_time / 1000, device=dev),
        ]
        if hasattr(d, "busy_time"):  # Linux/BSD only
            out.append(_c("system_disk_io_time_seconds_total", d.busy_time / 1000, device=dev))
    for nic, n in s.net_io.items():
        out += [
            _c("system_network_receive_bytes_total", n.bytes_recv, interface=nic),
            _c("system_network_transmit_bytes_total", n.bytes_sent, interface=nic),
            _c("system_network_receive_packets_total", n.packets_recv, interface=nic),
            _c("system_network_transmit_packets_total", n.packets_sent, interface=nic),
            _c("system_network_receive_errors_total", n.errin, interface=nic),
            _c("system_network_transmit_errors_total", n.errout, interface=nic),
            _c("system_network_receive_drops_total", n.dropin, interface=nic),
            _c("system_network_transmit_drops_total", n.dropout, interface=nic),
        ]
    if s.load is not None:
        out += [_g(f"system_load{w}", v) for w, v in zip((1, 5, 15), s.load, strict=True)]
    if s.cpu_stats is not None:
        out += [
            _c("system_context_switches_total", s.cpu_stats.ctx_switches),
            _c("system_interrupts_total", s.cpu_stats.interrupts),
        ]
    return out


def _busy_total(t: Any) -> tuple[float, float]:
    # psutil's own formula: guest time is already inside user time; idle and iowait are idle.
    d = t._asdict()
    total = sum(d.values()) - d.get("guest", 0.0) - d.get("guest_nice", 0.0)
    return total - d["idle"] - d.get("iowait", 0.0), total


def cpu_percent(prev: Any, cur: Any) -> float:
    """Busy % between two ``psutil.cpu_times()`` readings."""
    b0, t0 = _busy_total(prev)
    b1, t1 = _busy_total(cur)
    if t1 - t0 <= 0:
        return 0.0
    return round(min(100.0, max(0.0, (b1 - b0) / (t1 - t0) * 100)), 1)


def read_snapshot(
    exclude_fstypes: frozenset[str], cpu: float, per_core: list[float]
) -> SystemSnapshot:
    disks: dict[str, Any] = {}
    seen_devices: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        # Bind mounts repeat a device; report it once, under its first mount point.
        if part.fstype in exclude_fstypes or part.device in seen_devices:
            continue
        try:
            disks[part.mountpoint] = psutil.disk_usage(part.mountpoint)
            seen_devices.add(part.device)
        except OSError:  # unmounted meanwhile, or no permission
            continue
    return SystemSnapshot(
        cpu_percent=cpu,
        per_core=per_core,
        memory=psutil.virtual_memory(),
        swap=psutil.swap_memory(),
        disks=disks,
        disk_io=psutil.disk_io_counters(perdisk=True, nowrap=True) or {},
        net_io=psutil.net_io_counters(pernic=True, nowrap=True) or {},
        load=os.getloadavg() if hasattr(os, "getloadavg") else None,
        cpu_stats=psutil.cpu_stats(),
    )


class SystemSource:
    """psutil metrics; optionally the top processes (see processes.py).

    CPU % is computed here from ``cpu_times()`` deltas held by the source: psutil's own
    ``cpu_percent(None)`` keeps its previous reading per calling thread, and collections run
    on whichever executor thread is free, so it would often measure nothing.
    """

    name = "system"

    def __init__(
        self,
        interval: float = 10.0,
        per_core: bool = True,
        top_processes: int = 5,
        cmdline_max_chars: int = 120,
        exclude_fstypes: list[str] | None = None,
    ) -> None:
        self.interval = interval
        self._per_core = per_core
        self._exclude = frozenset(exclude_fstypes or ())
        self._procs = ProcessTable(top_processes, cmdline_max_chars) if top_processes else None
        self._prev = self._times()
        self._prev_at = time.monotonic()

    def _times(self) -> tuple[Any, list[Any]]:
        return psutil.cpu_times(), psutil.cpu_times(percpu=True) if self._per_core else []

    def _collect_sync(self) -> list[Sample]:
        # A first collection right after start-up (--once) needs a measurable CPU interval.
        wait = 0.5 - (time.monotonic() - self._prev_at)
        if wait > 0:
            time.sleep(wait)
        (total0, cores0), cur = self._prev, self._times()
        self._prev, self._prev_at = cur, time.monotonic()
        cores = [cpu_percent(a, b) for a, b in zip(cores0, cur[1], strict=False)]
        samples = snapshot_samples(read_snapshot(self._exclude, cpu_percent(total0, cur[0]), cores))
        if self._procs is not None:
            samples += self._procs.collect()
        return samples

    async def collect(self) -> list[Sample]:
        # In a thread: a hung network mount in disk_usage must not stall the event loop.
        return await asyncio.to_thread(self._collect_sync)
