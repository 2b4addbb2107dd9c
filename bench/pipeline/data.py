"""Synthetic scrapes: one MetricBatch record of N samples per host per interval.

Shaped like node_exporter output: per-CPU and per-device series, ~70% gauges and ~30%
counters, host label sets repeated scrape after scrape, and each record says when its host
scrapes next (``interval``), as real agents do.
"""

from __future__ import annotations

import random

from schemas import MetricBatch, Sample, encode, new_id

__all__ = ["make_records"]

_GAUGES = ("node_memory_bytes", "node_load", "node_filesystem_free_bytes", "node_cpu_percent")
_COUNTERS = ("node_network_bytes_total", "node_disk_io_total", "node_cpu_seconds_total")


def _series(samples_per_record: int) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for i in range(samples_per_record):
        if i % 10 < 3:
            name, kind = _COUNTERS[i % len(_COUNTERS)], "counter"
        else:
            name, kind = _GAUGES[i % len(_GAUGES)], "gauge"
        out.append((name, kind, {"device": f"d{i // 7}", "mode": f"m{i % 7}"}))
    return out


def make_records(
    hosts: int, records: int, samples_per_record: int, interval: float, end: float, *, seed: int = 1
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs in event-time order per host; the last scrape is at ``end``."""
    rng = random.Random(seed)
    series = _series(samples_per_record)
    scrapes = -(-records // hosts)
    start = end - (scrapes - 1) * interval
    counters = [0.0] * samples_per_record
    out: list[tuple[bytes, bytes]] = []
    for k in range(scrapes):
        for h in range(hosts):
            if len(out) == records:
                return out
            samples = []
            for j, (name, kind, labels) in enumerate(series):
                if kind == "counter":
                    counters[j] += rng.random() * 1000
                    value = round(counters[j], 3)
                else:
                    value = round(rng.random() * 100, 3)
                samples.append(Sample(name=name, value=value, type=kind, labels=labels))  # type: ignore[arg-type]
            host = f"bench-{h:04d}"
            batch = MetricBatch(
                id=new_id(), host=host, source="bench", ts=start + k * interval + h * 1e-4,
                samples=samples, interval=interval,
            )  # fmt: skip
            out.append((host.encode(), encode(batch)))
    return out
