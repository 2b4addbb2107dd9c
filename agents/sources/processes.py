"""The top N processes by CPU and by memory (RSS), as per-process samples.

``process_resident_memory_bytes{pid,name}`` feeds the pipeline's memory-leak detector, so
its name and labels are a contract. The command line goes on ``process_info`` only, to keep
the other series' label sets small.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from schemas.records import Sample

__all__ = ["ProcessRow", "ProcessTable", "top_samples"]

_ATTRS = ["pid", "name", "cmdline", "memory_info", "num_threads", "num_fds", "cpu_percent"]


@dataclass(slots=True, frozen=True)
class ProcessRow:
    pid: int
    name: str
    cmdline: str
    cpu_percent: float
    rss: int
    threads: int
    fds: int | None


def top_samples(rows: list[ProcessRow], n: int) -> list[Sample]:
    """Samples for the union of the top ``n`` rows by CPU and the top ``n`` by RSS."""
    by_cpu = sorted(rows, key=lambda r: (-r.cpu_percent, r.pid))[:n]
    by_rss = sorted(rows, key=lambda r: (-r.rss, r.pid))[:n]
    chosen = {r.pid: r for r in by_cpu + by_rss}
    out: list[Sample] = []
    for r in sorted(chosen.values(), key=lambda r: r.pid):
        lbl = {"pid": str(r.pid), "name": r.name}
        out += [
            Sample(name="process_cpu_percent", value=r.cpu_percent, labels=lbl),
            Sample(name="process_resident_memory_bytes", value=float(r.rss), labels=lbl),
            Sample(name="process_threads", value=float(r.threads), labels=lbl),
            Sample(name="process_info", value=1.0, labels={**lbl, "cmdline": r.cmdline}),
        ]
        if r.fds is not None:
            out.append(Sample(name="process_open_fds", value=float(r.fds), labels=lbl))
    return out


class ProcessTable:
    """Reads every process once per collection; psutil caches Process objects between calls,
    which is what makes per-process ``cpu_percent`` measure over the collection interval."""

    def __init__(self, n: int, cmdline_max_chars: int = 120) -> None:
        self._n = n
        self._max = cmdline_max_chars
        self.read()  # prime per-process CPU counters

    def read(self) -> list[ProcessRow]:
        rows = []
        for p in psutil.process_iter(_ATTRS, ad_value=None):
            info = p.info
            mem = info.get("memory_info")
            if mem is None:  # zombie or gone
                continue
            cmd = " ".join(info.get("cmdline") or ())[: self._max]
            rows.append(
                ProcessRow(
                    pid=info["pid"],
                    name=info.get("name") or "?",
                    cmdline=cmd,
                    cpu_percent=float(info.get("cpu_percent") or 0.0),
                    rss=int(mem.rss),
                    threads=int(info.get("num_threads") or 0),
                    fds=info.get("num_fds"),
                )
            )
        return rows

    def collect(self) -> list[Sample]:
        return top_samples(self.read(), self._n)
