"""The history file: its tables, and opening it (a corrupt file is moved aside, not fatal).

Raw window aggregates, 1-minute and 1-hour rollups keyed (series, bucket), alerts, the
other findings as one table, and the consumed offsets, which are written in the same
transaction as the rows they cover: a restart resumes exactly where the file ends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from schemas.errors import TokaError

__all__ = ["ROLLUP_LEVELS", "SKETCH_TABLES", "HistoryError", "open_history"]

log = logging.getLogger(__name__)

#: Rollup tables and their bucket width in seconds.
ROLLUP_LEVELS = {"rollup_1m": 60.0, "rollup_1h": 3600.0}
#: Each rollup table's sketch table.
SKETCH_TABLES = {"rollup_1m": "sketch_1m", "rollup_1h": "sketch_1h"}

_RAW = """
CREATE TABLE IF NOT EXISTS raw (
    id VARCHAR, series VARCHAR, name VARCHAR, host VARCHAR, labels VARCHAR, type VARCHAR,
    window_start DOUBLE, window_end DOUBLE, width DOUBLE, count BIGINT, sum DOUBLE,
    min DOUBLE, max DOUBLE, mean DOUBLE, last DOUBLE, rate DOUBLE,
    p50 DOUBLE, p95 DOUBLE, p99 DOUBLE
)"""

# The newest window of every series (of the rollup width): what the overview, the host
# page and the services list read, without scanning an hour of raw windows.
_LATEST = "CREATE TABLE IF NOT EXISTS latest AS SELECT * FROM raw WITH NO DATA"

# Rollups are append-only partial aggregates (one row per series, bucket and append),
# folded into one row per (series, bucket) by compaction; every read sums the partials, so
# a read before compaction is as right as one after. (An upsert per append, ON CONFLICT DO
# UPDATE, ingested 5,000 aggregates/s where appending reaches several times that.)
# p*_w: the count-weighted sum of the windows' own percentiles (approximate: percentiles do
# not average), used only where no record carried a sketch.
_ROLLUP = """
CREATE TABLE IF NOT EXISTS {table} (
    series VARCHAR, bucket DOUBLE, name VARCHAR, host VARCHAR, labels VARCHAR, type VARCHAR,
    count BIGINT, sum DOUBLE, min DOUBLE, max DOUBLE, last DOUBLE, last_end DOUBLE,
    rate_sum DOUBLE, rate_n BIGINT, pw_n BIGINT, p50_w DOUBLE, p95_w DOUBLE, p99_w DOUBLE
)"""

# Merged sketches of a rollup level, one row per (series, bucket), with the percentiles
# they give (exact to the sketch's relative accuracy).
_SKETCH = """
CREATE TABLE IF NOT EXISTS {table} (
    series VARCHAR, bucket DOUBLE, sketch VARCHAR, q50 DOUBLE, q95 DOUBLE, q99 DOUBLE,
    PRIMARY KEY (series, bucket)
)"""

_OTHERS = (
    """CREATE TABLE IF NOT EXISTS alerts (
        id VARCHAR, ts DOUBLE, fingerprint VARCHAR, status VARCHAR, severity VARCHAR,
        alertname VARCHAR, host VARCHAR, rule VARCHAR, value DOUBLE, threshold DOUBLE,
        starts_at VARCHAR, ends_at VARCHAR, labels VARCHAR, annotations VARCHAR
    )""",
    # regressions, anomalies, capacity, benchmarks, deadletter: the record as JSON, with
    # the columns every filter needs.
    """CREATE TABLE IF NOT EXISTS findings (
        kind VARCHAR, id VARCHAR, ts DOUBLE, subject VARCHAR, host VARCHAR,
        severity VARCHAR, body VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS offsets (
        topic VARCHAR, partition INTEGER, next_offset BIGINT, PRIMARY KEY (topic, partition)
    )""",
)

#: No extension is ever downloaded: the history works offline (json is built in).
_OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


#: What DuckDB says of a file it cannot read as a database (rebuilt), as opposed to one it
#: cannot open (locked by another replica, no permission: an error, the file untouched).
_UNREADABLE = ("not a valid duckdb database", "corrupt", "checksum", "serializ", "failed to read")


class HistoryError(TokaError):
    """The history file cannot be opened (and is not corrupt: nothing was moved)."""


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), config=_OFFLINE)
    con.execute(_RAW)
    con.execute(_LATEST)
    for table in ROLLUP_LEVELS:
        con.execute(_ROLLUP.format(table=table))
        con.execute(_SKETCH.format(table=SKETCH_TABLES[table]))
    for ddl in _OTHERS:
        con.execute(ddl)
    con.execute("SELECT count(*) FROM offsets").fetchone()
    return con


def open_history(path: Path) -> tuple[duckdb.DuckDBPyConnection, Path | None]:
    """Open (or create) the history file. A file DuckDB cannot read is moved aside and a
    new one started; the consumer then rebuilds it from the topics (no offsets stored).
    Returns the connection and where a corrupt file went (None when it was fine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path), None
    except duckdb.Error as exc:
        text = str(exc).lower()
        if isinstance(exc, duckdb.IOException) and not any(w in text for w in _UNREADABLE):
            raise HistoryError(f"cannot open the history file {path}: {exc} (each dashboard "
                               "replica needs a file of its own)") from None  # fmt: skip
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        log.error("history file %s is unreadable (%s): moved to %s, rebuilding from Kafka",
                  path, exc, aside)  # fmt: skip
        path.rename(aside)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            wal.rename(aside.with_name(aside.name + ".wal"))
        return _connect(path), aside
