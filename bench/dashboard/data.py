"""Bench data: the worker's real output for real-shape scrapes, and a day of history for
200 hosts written straight into the tables (the read benchmarks need volume, not realism of
how it got there)."""

from __future__ import annotations

import time

from bench.pipeline.data import make_records
from pipeline.dashboard.store import HistoryStore
from pipeline.windows.core import WindowStore
from schemas import MetricBatch, decode, encode

__all__ = ["HEADLINE_SERIES", "fill_day", "worker_output"]

#: Series per host in the filled day: the overview's headline metrics, then others.
HEADLINE_SERIES = [
    "system_cpu_percent", "system_memory_percent", "system_disk_used_percent",
    "system_network_receive_bytes_total", "system_network_transmit_bytes_total",
]  # fmt: skip


def worker_output(hosts: int, records: int, samples: int, interval: float,
                  sizes: list[float]) -> tuple[list[bytes], float]:  # fmt: skip
    """Run the windows core (decode + fold + close, as the worker does) over real-shape
    scrapes. Returns the aggregates it emits, encoded as on ``toka.aggregates``, and the
    CPU seconds the core took to make them."""
    batches = make_records(hosts, records, samples, interval, end=time.time())
    stores: dict[bytes, WindowStore] = {}
    out = []
    cpu = 0.0
    for key, value in batches:
        t0 = time.process_time()
        batch = decode(value, MetricBatch)
        store = stores.get(key[-1:])
        if store is None:
            store = stores[key[-1:]] = WindowStore(sizes)
        store.add_batch(batch, now=batch.ts)
        closed = store.close_due(now=batch.ts)
        cpu += time.process_time() - t0
        out.extend(encode(a) for a in closed)
    return out, cpu


def fill_day(store: HistoryStore, hosts: int, series_per_host: int, width: float) -> int:
    """24 h of 1-minute rollups and the raw windows of the retention for ``hosts`` hosts,
    generated in SQL. Returns the rows written."""
    now = time.time() // width * width
    names = HEADLINE_SERIES + [f"app_metric_{i}" for i in range(series_per_host - 5)]
    con = store.cursor()
    con.execute("CREATE TEMP TABLE names AS SELECT unnest($names) AS name", {"names": names})
    con.execute("CREATE TEMP TABLE hosts AS SELECT printf('host-%03d', range) AS host "
                "FROM range($n)", {"n": hosts})  # fmt: skip
    series = "h.host || '|' || n.name || '|'"
    value = "50 + 30 * sin(t / 3600 + hash(h.host) % 100)"
    raw_seconds = store.retention.raw_seconds
    con.execute(f"""
        INSERT INTO raw SELECT md5(random()::VARCHAR), {series}, n.name, h.host, '{{}}',
            'gauge', t - $w, t, $w, 1, {value}, {value}, {value}, {value}, {value},
            CASE WHEN n.name LIKE '%total' THEN 1000.0 END, NULL, NULL, NULL
        FROM hosts h, names n, range($start, $end, $w) r(t)
    """, {"w": int(width), "start": int(now - raw_seconds + width),
          "end": int(now + 1)})  # fmt: skip
    con.execute(f"""
        INSERT INTO rollup_1m SELECT {series}, t, n.name, h.host, '{{}}', 'gauge', 6,
            6 * ({value}), {value} - 5, {value} + 5, {value}, t + 60, 0, 0, 0, 0, 0, 0
        FROM hosts h, names n, range($start, $end, 60) r(t)
    """, {"start": int(now // 60 * 60 - 86400), "end": int(now)})  # fmt: skip
    con.execute("INSERT INTO latest SELECT * FROM raw QUALIFY row_number() OVER "
                "(PARTITION BY series ORDER BY window_end DESC) = 1")  # fmt: skip
    row = con.execute("SELECT (SELECT count(*) FROM raw) + (SELECT count(*) FROM rollup_1m)")
    total = row.fetchone()
    con.close()
    return int(total[0]) if total else 0
