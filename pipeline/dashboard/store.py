"""The history store: bulk appends in one transaction with their offsets, rollups,
retention and the size bound. Reads live in queries.py.

One writer (the consumer) and any number of readers: DuckDB's MVCC lets each reader work
on a cursor of its own while an append is under way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson

from pipeline.dashboard.ingest import IngestBatch, aggregate_columns
from pipeline.dashboard.schema import ROLLUP_LEVELS, open_history
from pipeline.windows.sketch import DDSketch

__all__ = ["HistoryStore", "Retention"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    raw_seconds: float = 3600.0
    minute_seconds: float = 7 * 86400.0
    hour_seconds: float = 90 * 86400.0
    findings_seconds: float = 30 * 86400.0
    max_bytes: float = 2048 * 2**20


_ROLLUP_INSERT = """
INSERT INTO {table}
SELECT series, floor(window_start / {width}) * {width} AS bucket, any_value(name),
    any_value(host), any_value(labels), any_value(type), sum(count), sum(sum), min(min),
    max(max), arg_max(last, window_end), max(window_end), coalesce(sum(rate), 0),
    count(rate), coalesce(sum(CASE WHEN p95 IS NOT NULL THEN count END), 0),
    coalesce(sum(p50 * count), 0), coalesce(sum(p95 * count), 0),
    coalesce(sum(p99 * count), 0), NULL, NULL, NULL, NULL
FROM fresh WHERE width = $width GROUP BY series, bucket
ON CONFLICT (series, bucket) DO UPDATE SET
    count = count + excluded.count, sum = sum + excluded.sum,
    min = least(min, excluded.min), max = greatest(max, excluded.max),
    last = CASE WHEN excluded.last_end >= last_end THEN excluded.last ELSE last END,
    last_end = greatest(last_end, excluded.last_end),
    rate_sum = rate_sum + excluded.rate_sum, rate_n = rate_n + excluded.rate_n,
    pw_n = pw_n + excluded.pw_n, p50_w = p50_w + excluded.p50_w,
    p95_w = p95_w + excluded.p95_w, p99_w = p99_w + excluded.p99_w
"""


class HistoryStore:
    """The DuckDB history file of one dashboard replica.

    ``rollup_width``: the window size (seconds) the rollups are built from; the topic
    carries every configured size, and summing two sizes would count each sample twice.
    """

    def __init__(self, path: Path, retention: Retention, rollup_width: float) -> None:
        self.path = path
        self.retention = retention
        self.rollup_width = rollup_width
        self.con, self.moved_aside = open_history(path)
        self.counts: Counter[str] = Counter()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one reader thread."""
        return self.con.cursor()

    def close(self) -> None:
        self.con.close()

    def on_append(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with a summary of every committed append (live updates)."""
        self._listeners.append(listener)

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self.cursor().execute("SELECT topic, partition, next_offset FROM offsets")
        return {(t, p): o for t, p, o in rows.fetchall()}

    def append(self, batch: IngestBatch) -> dict[str, Any]:
        """Write the batch and its offsets in one transaction; returns what was new."""
        con = self.con.cursor()
        _run(con, "BEGIN TRANSACTION")
        try:
            summary = self._append(con, batch)
            _run(con, "COMMIT")
        except BaseException:
            _run(con, "ROLLBACK")
            raise
        finally:
            con.close()
        self.counts.update(batch.bad)
        self.counts.update({k: v for k, v in summary.items() if isinstance(v, int)})
        for listener in self._listeners:
            listener(summary)
        return summary

    def _append(self, con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> dict[str, Any]:
        summary: dict[str, Any] = {"aggregates": 0, "alerts": 0, "findings": 0}
        if batch.aggregates:
            summary["aggregates"] = self._append_aggregates(con, batch)
        if batch.alerts:
            summary["alerts"] = self._append_alerts(con, batch)
            summary["alert_hosts"] = sorted({a.labels.get("host", "") for _, a in batch.alerts})
        if batch.findings:
            summary["findings"] = self._append_findings(con, batch)
            summary["finding_kinds"] = sorted({f[0] for f in batch.findings})
        if batch.offsets:
            items = list(batch.offsets.items())
            con.register("new_offsets", {
                "topic": np.array([t for (t, _), _ in items], dtype=object),
                "partition": np.array([p for (_, p), _ in items], dtype=np.int32),
                "next_offset": np.array([o for _, o in items], dtype=np.int64),
            })  # fmt: skip
            _run(
                con,
                "INSERT INTO offsets SELECT * FROM new_offsets ON CONFLICT (topic, partition) "
                "DO UPDATE SET next_offset = excluded.next_offset",
            )
            con.unregister("new_offsets")
        return summary

    def _append_aggregates(self, con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> int:
        columns = aggregate_columns(batch.aggregates)
        con.register("incoming", columns)
        # At-least-once delivery upstream: drop aggregates already stored (same record id).
        oldest = float(columns["window_end"].min())
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE fresh AS SELECT DISTINCT ON (id) * FROM incoming "
            "WHERE id NOT IN (SELECT id FROM raw WHERE window_end >= $oldest)",
            {"oldest": oldest},
        )
        con.unregister("incoming")
        _run(con, "INSERT INTO raw SELECT * FROM fresh")
        for table, width in ROLLUP_LEVELS.items():
            _run(con, _ROLLUP_INSERT.format(table=table, width=width),
                        {"width": self.rollup_width})  # fmt: skip
        fresh = self._fresh_ids(con, batch)
        sketched = [a for a in batch.aggregates
                    if a.sketch and a.id in fresh
                    and a.window_end - a.window_start == self.rollup_width]  # fmt: skip
        if sketched:
            for table, width in ROLLUP_LEVELS.items():
                _merge_sketches(con, table, width, sketched)
        count = _one(con, "SELECT count(*) FROM fresh")
        _run(con, "DROP TABLE fresh")
        return int(count[0]) if count else 0

    @staticmethod
    def _fresh_ids(con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> set[str]:
        if not any(a.sketch for a in batch.aggregates):
            return set()
        return {row[0] for row in _run(con, "SELECT id FROM fresh")}

    def _append_alerts(self, con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> int:
        rows = batch.alerts
        con.register("incoming", {
            "id": np.array([a.id for _, a in rows], dtype=object),
            "ts": np.array([ts for ts, _ in rows], dtype=np.float64),
            "fingerprint": np.array([a.fingerprint for _, a in rows], dtype=object),
            "status": np.array([a.status for _, a in rows], dtype=object),
            "severity": np.array([a.labels.get("severity", "") for _, a in rows], dtype=object),
            "alertname": np.array([a.labels.get("alertname", a.rule) for _, a in rows],
                                  dtype=object),
            "host": np.array([a.labels.get("host", "") for _, a in rows], dtype=object),
            "rule": np.array([a.rule for _, a in rows], dtype=object),
            "value": np.array([a.value for _, a in rows], dtype=np.float64),
            "threshold": np.array([a.threshold for _, a in rows], dtype=np.float64),
            "starts_at": np.array([a.startsAt for _, a in rows], dtype=object),
            "ends_at": np.array([a.endsAt for _, a in rows], dtype=object),
            "labels": np.array([orjson.dumps(a.labels).decode() for _, a in rows], dtype=object),
            "annotations": np.array([orjson.dumps(a.annotations).decode() for _, a in rows],
                                    dtype=object),
        })  # fmt: skip
        return self._insert_new(con, "alerts")

    def _append_findings(self, con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> int:
        names = ("kind", "id", "ts", "subject", "host", "severity", "body")
        cols = list(zip(*batch.findings, strict=True))
        con.register("incoming", {
            name: np.array(col, dtype=np.float64 if name == "ts" else object)
            for name, col in zip(names, cols, strict=True)
        })  # fmt: skip
        return self._insert_new(con, "findings")

    @staticmethod
    def _insert_new(con: duckdb.DuckDBPyConnection, table: str) -> int:
        before = _one(con, f"SELECT count(*) FROM {table}")
        _run(
            con,
            f"INSERT INTO {table} SELECT DISTINCT ON (id) * FROM incoming "
            f"WHERE id NOT IN (SELECT id FROM {table})",
        )
        con.unregister("incoming")
        after = _one(con, f"SELECT count(*) FROM {table}")
        return int(after[0] - before[0]) if after and before else 0

    def prune(self, now: float | None = None) -> dict[str, int]:
        """Drop what is past its retention, then enforce the size bound (oldest first).
        Returns rows removed per table; the counts also go to ``counts``."""
        now = time.time() if now is None else now
        r = self.retention
        removed: Counter[str] = Counter()
        con = self.cursor()
        steps = [
            ("raw", "window_end", r.raw_seconds),
            ("rollup_1m", "bucket", r.minute_seconds),
            ("rollup_1h", "bucket", r.hour_seconds),
            ("findings", "ts", r.findings_seconds),
        ]
        for table, column, keep in steps:
            removed[table] += _delete(con, f"DELETE FROM {table} WHERE {column} < $cut",
                                      now - keep)  # fmt: skip
        # Resolved alert history goes with the findings; firing alerts stay while firing.
        removed["alerts"] += _delete(con, "DELETE FROM alerts WHERE ts < $cut AND fingerprint "
                                     "NOT IN (SELECT fingerprint FROM alerts QUALIFY row_number() "
                                     "OVER (PARTITION BY fingerprint ORDER BY ts DESC) = 1 AND "
                                     "status = 'firing')", now - r.findings_seconds)  # fmt: skip
        if self.size_bytes() > r.max_bytes:
            removed.update(self._shrink(con))
        self.counts.update({f"pruned_{k}": v for k, v in removed.items()})
        return dict(removed)

    def size_bytes(self) -> int:
        files = (self.path, self.path.with_name(self.path.name + ".wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def _shrink(self, con: duckdb.DuckDBPyConnection) -> Counter[str]:
        """Over the size bound: drop the oldest quarter of every table's time range."""
        removed: Counter[str] = Counter()
        for table, column in (("raw", "window_end"), ("rollup_1m", "bucket"),
                              ("rollup_1h", "bucket"), ("findings", "ts")):  # fmt: skip
            low, high = _one(con, f"SELECT min({column}), max({column}) FROM {table}") or (
                None,
                None,
            )  # noqa: E501
            if low is None or high is None:
                continue
            removed[f"evicted_{table}"] += _delete(
                con, f"DELETE FROM {table} WHERE {column} < $cut", low + (high - low) / 4
            )
        _run(con, "CHECKPOINT")
        log.warning("history over its size bound (%.0f MB): removed the oldest rows %s",
                    self.retention.max_bytes / 2**20, dict(removed))  # fmt: skip
        return removed


def _delete(con: duckdb.DuckDBPyConnection, sql: str, cut: float) -> int:
    row = _one(con, sql, {"cut": cut})
    return int(row[0]) if row else 0


def _merge_sketches(con: duckdb.DuckDBPyConnection, table: str, width: float,
                    aggs: list[Any]) -> None:  # fmt: skip
    """Fold the aggregates' sketches into their rollup rows' sketches (exact merge) and
    set the rows' percentiles from the result."""
    merged: dict[tuple[str, float], DDSketch] = {}
    for agg in aggs:
        key = (agg.series, float(np.floor(agg.window_start / width) * width))
        sketch = DDSketch.from_dict(agg.sketch)
        if key in merged:
            merged[key].merge(sketch)
        else:
            merged[key] = sketch
    keys = list(merged)
    con.register("sketch_keys", {
        "series": np.array([s for s, _ in keys], dtype=object),
        "bucket": np.array([b for _, b in keys], dtype=np.float64),
    })  # fmt: skip
    stored = _run(
        con,
        f"SELECT t.series, t.bucket, t.sketch FROM {table} t JOIN sketch_keys k "
        "ON t.series = k.series AND t.bucket = k.bucket WHERE t.sketch IS NOT NULL",
    )
    con.unregister("sketch_keys")
    for series, bucket, text in stored:
        merged[(series, bucket)].merge(DDSketch.from_dict(orjson.loads(text)))
    quantiles = [sk.quantiles((0.5, 0.95, 0.99)) for sk in merged.values()]
    con.register("sketch_rows", {
        "series": np.array([s for s, _ in keys], dtype=object),
        "bucket": np.array([b for _, b in keys], dtype=np.float64),
        "sketch": np.array([orjson.dumps(merged[k].to_dict()).decode() for k in keys],
                           dtype=object),
        "q50": np.array([q[0] for q in quantiles], dtype=np.float64),
        "q95": np.array([q[1] for q in quantiles], dtype=np.float64),
        "q99": np.array([q[2] for q in quantiles], dtype=np.float64),
    })  # fmt: skip
    _run(
        con,
        f"UPDATE {table} SET sketch = s.sketch, q50 = s.q50, q95 = s.q95, q99 = s.q99 "
        f"FROM sketch_rows s WHERE {table}.series = s.series AND {table}.bucket = s.bucket",
    )
    con.unregister("sketch_rows")


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[Any]:
    """Run one statement to completion (DuckDB refuses new work while a result is unread)."""
    return con.execute(sql, params).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    rows = _run(con, sql, params)
    return rows[0] if rows else None
