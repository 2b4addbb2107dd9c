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
from pipeline.dashboard.schema import ROLLUP_LEVELS, SKETCH_TABLES, open_history
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


_KEEP = "any_value(name), any_value(host), any_value(labels), any_value(type)"

# The batch's 1-minute partials, from the windows of the rollup width; the 1-hour partials
# are folded from those (many times fewer rows than the windows).
_MINUTE_PARTIALS = """
CREATE OR REPLACE TEMP TABLE minute_partials AS
SELECT series, floor(window_start / 60) * 60 AS bucket, any_value(name) AS name,
    any_value(host) AS host, any_value(labels) AS labels, any_value(type) AS type,
    sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
    arg_max(last, window_end) AS last, max(window_end) AS last_end,
    coalesce(sum(rate), 0) AS rate_sum, count(rate) AS rate_n,
    coalesce(sum(CASE WHEN p95 IS NOT NULL THEN count END), 0) AS pw_n,
    coalesce(sum(p50 * count), 0) AS p50_w, coalesce(sum(p95 * count), 0) AS p95_w,
    coalesce(sum(p99 * count), 0) AS p99_w
FROM fresh WHERE width = $width GROUP BY series, 2
"""

# Partial rows folded into one per (series, bucket of {{width}}): the sums every read makes.
_FOLD = f"""
SELECT series, floor(bucket / {{width}}) * {{width}} AS bucket, {_KEEP},
    sum(count), sum(sum), min(min), max(max), arg_max(last, last_end), max(last_end),
    sum(rate_sum), sum(rate_n), sum(pw_n), sum(p50_w), sum(p95_w), sum(p99_w)
FROM {{source}} {{where}} GROUP BY series, 2
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
        # The oldest bucket start appended to since the last compaction, per rollup table.
        self._dirty: dict[str, float] = {}
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
            "ANTI JOIN (SELECT id FROM raw WHERE window_end >= $oldest) USING (id)",
            {"oldest": oldest},
        )
        con.unregister("incoming")
        _run(con, "INSERT INTO raw SELECT * FROM fresh")
        _update_latest(con, self.rollup_width)
        oldest_start = float(columns["window_start"].min())
        _run(con, _MINUTE_PARTIALS, {"width": self.rollup_width})
        for table, width in ROLLUP_LEVELS.items():
            if width == 60.0:  # already one row per minute bucket
                _run(con, f"INSERT INTO {table} SELECT * FROM minute_partials")
            else:
                fold = _FOLD.format(width=width, source="minute_partials", where="")
                _run(con, f"INSERT INTO {table} {fold}")
            bucket = float(np.floor(oldest_start / width) * width)
            self._dirty[table] = min(self._dirty.get(table, bucket), bucket)
        fresh = self._fresh_ids(con, batch)
        sketched = [a for a in batch.aggregates
                    if a.sketch and a.id in fresh
                    and a.window_end - a.window_start == self.rollup_width]  # fmt: skip
        if sketched:
            for table, width in ROLLUP_LEVELS.items():
                _merge_sketches(con, SKETCH_TABLES[table], width, sketched)
        count = _one(con, "SELECT count(*) FROM fresh")
        _run(con, "DROP TABLE fresh")
        _run(con, "DROP TABLE minute_partials")
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

    def compact(self) -> int:
        """Fold the partial rows appended since the last compaction into one row per
        (series, bucket); returns the rows saved. One transaction per table."""
        saved = 0
        for table in ROLLUP_LEVELS:
            since = self._dirty.pop(table, None)
            if since is None:
                continue
            con = self.con.cursor()
            _run(con, "BEGIN TRANSACTION")
            try:
                fold = _FOLD.format(width=ROLLUP_LEVELS[table], source=table,
                                    where="WHERE bucket >= $since")  # fmt: skip
                _run(con, f"CREATE OR REPLACE TEMP TABLE folded AS {fold}", {"since": since})
                before = _one(con, f"SELECT count(*) FROM {table} WHERE bucket >= $since",
                              {"since": since})  # fmt: skip
                _run(con, f"DELETE FROM {table} WHERE bucket >= $since", {"since": since})
                _run(con, f"INSERT INTO {table} SELECT * FROM folded")
                after = _one(con, "SELECT count(*) FROM folded")
                _run(con, "DROP TABLE folded")
                _run(con, "COMMIT")
            except BaseException:
                _run(con, "ROLLBACK")
                self._dirty[table] = min(since, self._dirty.get(table, since))
                raise
            finally:
                con.close()
            saved += int(before[0] - after[0])
        self.counts["compacted_rows"] += saved
        return saved

    def prune(self, now: float | None = None) -> dict[str, int]:
        """Drop what is past its retention, then enforce the size bound (oldest first).
        Returns rows removed per table; the counts also go to ``counts``."""
        now = time.time() if now is None else now
        r = self.retention
        removed: Counter[str] = Counter()
        con = self.cursor()
        steps = [
            ("raw", "window_end", r.raw_seconds),
            ("latest", "window_end", r.raw_seconds),
            ("rollup_1m", "bucket", r.minute_seconds),
            ("rollup_1h", "bucket", r.hour_seconds),
            ("sketch_1m", "bucket", r.minute_seconds),
            ("sketch_1h", "bucket", r.hour_seconds),
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
                              ("rollup_1h", "bucket"), ("sketch_1m", "bucket"),
                              ("sketch_1h", "bucket"), ("findings", "ts")):  # fmt: skip
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


def _update_latest(con: duckdb.DuckDBPyConnection, width: float) -> None:
    """Each series' newest window of the batch replaces the stored one unless that is newer
    (a late window never hides a later one)."""
    _run(con, "CREATE OR REPLACE TEMP TABLE newest AS SELECT * FROM fresh WHERE width = $w "
              "QUALIFY row_number() OVER (PARTITION BY series ORDER BY window_end DESC) = 1",
         {"w": width})  # fmt: skip
    _run(con, "DELETE FROM newest WHERE series IN (SELECT l.series FROM latest l JOIN newest n "
              "ON l.series = n.series AND l.window_end > n.window_end)")  # fmt: skip
    _run(con, "DELETE FROM latest WHERE series IN (SELECT series FROM newest)")
    _run(con, "INSERT INTO latest SELECT * FROM newest")
    _run(con, "DROP TABLE newest")


def _delete(con: duckdb.DuckDBPyConnection, sql: str, cut: float) -> int:
    row = _one(con, sql, {"cut": cut})
    return int(row[0]) if row else 0


def _merge_sketches(con: duckdb.DuckDBPyConnection, table: str, width: float,
                    aggs: list[Any]) -> None:  # fmt: skip
    """Fold the aggregates' sketches into the level's sketch table (exact merge), with
    the percentiles of each merged sketch."""
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
        "ON t.series = k.series AND t.bucket = k.bucket",
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
    _run(con, f"DELETE FROM {table} WHERE (series, bucket) IN "
              "(SELECT series, bucket FROM sketch_rows)")  # fmt: skip
    _run(con, f"INSERT INTO {table} SELECT * FROM sketch_rows")
    con.unregister("sketch_rows")


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[Any]:
    """Run one statement to completion (DuckDB refuses new work while a result is unread)."""
    return con.execute(sql, params).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    rows = _run(con, sql, params)
    return rows[0] if rows else None
