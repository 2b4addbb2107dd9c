"""Reads of the history: what the API answers. Every function takes a cursor of its own.

A series is read from the finest level that still holds its time range and is not finer
than the step asked for: raw windows, then the 1-minute and the 1-hour rollups. Points are
bucketed by ``step`` (seconds), which the caller has already widened so that no series has
more than ``max_data_points`` points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

__all__ = [
    "FIELDS",
    "HEADLINE",
    "SeriesQuery",
    "active_alerts",
    "alerts",
    "findings",
    "hosts",
    "latest_capacity",
    "series",
    "series_names",
    "services",
]

#: The overview's columns: column -> (metric, how a host's series of it combine).
HEADLINE = {
    "cpu": ("system_cpu_percent", "mean"),
    "memory": ("system_memory_percent", "mean"),
    "disk": ("system_disk_used_percent", "max"),
    "network_rx": ("system_network_receive_bytes_total", "rate"),
    "network_tx": ("system_network_transmit_bytes_total", "rate"),
}

FIELDS = ("mean", "max", "min", "last", "sum", "count", "rate", "p50", "p95", "p99")

_RAW_FIELD = {
    "mean": "sum(sum) / nullif(sum(count), 0)", "max": "max(max)", "min": "min(min)",
    "last": "arg_max(last, window_end)", "sum": "sum(sum)", "count": "sum(count)",
    "rate": "avg(rate)", "p50": "max(p50)", "p95": "max(p95)", "p99": "max(p99)",
}  # fmt: skip
_ROLLUP_FIELD = {
    **_RAW_FIELD,
    "last": "arg_max(last, last_end)",
    "rate": "sum(rate_sum) / nullif(sum(rate_n), 0)",
    # sketch percentiles where merged, else the weighted mean of the windows' (approximate)
    **{f"p{q}": f"coalesce(max(q{q}), sum(p{q}_w) / nullif(sum(pw_n), 0))" for q in (50, 95, 99)},
}


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = cur.execute(sql, params)
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


@dataclass(frozen=True)
class SeriesQuery:
    name: str
    start: float
    end: float
    step: float
    field: str = "mean"
    host: str | None = None
    series: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


def series(cur: duckdb.DuckDBPyConnection, q: SeriesQuery, *, width: float,
           raw_seconds: float, minute_seconds: float, now: float) -> dict[str, Any]:  # fmt: skip
    """Points of every series named ``q.name`` (narrowed by host, series id or labels)."""
    age = now - q.start
    if age <= raw_seconds and q.step < 60:
        table, resolution, time_col, exprs = "raw", width, "window_end", _RAW_FIELD
    elif age <= minute_seconds and q.step < 3600:
        table, resolution, time_col, exprs = "rollup_1m", 60.0, "bucket + 60", _ROLLUP_FIELD
    else:
        table, resolution, time_col, exprs = "rollup_1h", 3600.0, "bucket + 3600", _ROLLUP_FIELD
    step = max(q.step, resolution)
    source = table
    if table != "raw" and q.field.startswith("p"):  # the merged sketches of the same buckets
        sketches = table.replace("rollup", "sketch")
        source = f"(SELECT * FROM {table} LEFT JOIN {sketches} USING (series, bucket))"
    where = [f"name = $name AND {time_col} > $start AND {time_col} <= $end"]
    params: dict[str, Any] = {"name": q.name, "start": q.start, "end": q.end, "step": step}
    if table == "raw":
        where.append("width = $width")
        params["width"] = width
    if q.host:
        where.append("host = $host")
        params["host"] = q.host
    if q.series:
        where.append("series = $series")
        params["series"] = q.series
    for i, (key, value) in enumerate(q.labels):
        where.append(f"json_extract_string(labels, $lk{i}) = $lv{i}")
        params[f"lk{i}"], params[f"lv{i}"] = f"$.{key}", value
    sql = (
        f"SELECT series, any_value(host) AS host, any_value(labels) AS labels, "
        f"ceil(({time_col}) / $step) * $step AS t, {exprs[q.field]} AS v "
        f"FROM {source} WHERE {' AND '.join(where)} GROUP BY series, t ORDER BY series, t"
    )
    out: dict[str, dict[str, Any]] = {}
    for series_id, host, labels, t, v in cur.execute(sql, params).fetchall():
        entry = out.get(series_id)
        if entry is None:
            entry = out[series_id] = {"series": series_id, "host": host,
                                      "labels": orjson.loads(labels), "points": []}  # fmt: skip
        entry["points"].append([t, _clean(v)])
    approximate = q.field.startswith("p") and (step > resolution or table != "raw")
    if approximate and table != "raw" and step == resolution:
        # exact where the rollup merged sketches; approximate only where none was carried
        column = f"q{q.field[1:]}"
        row = cur.execute(
            f"SELECT bool_or({column} IS NULL) FROM {source} WHERE name = $name "
            f"AND {time_col} > $start AND {time_col} <= $end",
            {"name": q.name, "start": q.start, "end": q.end},
        ).fetchone()
        approximate = bool(row and row[0])
    return {
        "name": q.name, "field": q.field, "step": step, "level": table,
        "approximate": approximate, "series": list(out.values()),
    }  # fmt: skip


def series_names(cur: duckdb.DuckDBPyConnection, host: str | None, width: float,
                 since: float) -> list[dict[str, Any]]:  # fmt: skip
    """The series seen since ``since`` (one host or all), with their latest window."""
    params: dict[str, Any] = {"since": since, "width": width}
    where = "window_end > $since AND width = $width"
    if host:
        where += " AND host = $host"
        params["host"] = host
    rows = _rows(cur, (
        "SELECT series, name, host, labels, type, window_end AS ts, mean, max, last, rate, p95 "
        f"FROM latest WHERE {where} ORDER BY name, series"
    ), params)  # fmt: skip
    for row in rows:
        row["labels"] = orjson.loads(row["labels"])
        for key in ("mean", "max", "last", "rate", "p95"):
            row[key] = _clean(row[key])
    return rows


def hosts(cur: duckdb.DuckDBPyConnection, width: float, since: float) -> list[dict[str, Any]]:
    """Every host seen since ``since``, with its latest CPU, memory, disk and network."""
    names = {metric: (column, how) for column, (metric, how) in HEADLINE.items()}
    seen = _rows(cur, "SELECT host, max(window_end) AS last_seen, count(*) AS series "
                 "FROM latest WHERE window_end > $since GROUP BY host ORDER BY host",
                 {"since": since})  # fmt: skip
    latest = cur.execute(
        "SELECT host, name, mean, max, rate FROM latest WHERE width = $width AND "
        "window_end > $since AND name IN (SELECT unnest($names))",
        {"width": width, "since": since, "names": list(names)},
    ).fetchall()
    values: dict[str, dict[str, float]] = {}
    for host, name, mean, top, rate in latest:
        column, how = names[name]
        cell = values.setdefault(host, {})
        if how == "rate":  # every interface together
            cell[column] = cell.get(column, 0.0) + (rate or 0.0)
        elif how == "max":  # the fullest disk
            cell[column] = max(cell.get(column, top), top)
        else:
            cell[column] = mean
    for row in seen:
        row.update({c: _clean(values.get(row["host"], {}).get(c)) for c in HEADLINE})
    return seen


def services(cur: duckdb.DuckDBPyConnection, width: float, since: float) -> list[dict[str, Any]]:
    """Every service with spans since ``since``: RED over each operation's latest window."""
    rows = cur.execute(
        "SELECT json_extract_string(labels, '$.service') AS service, name, sum(sum), "
        "sum(count), max(p95), max(window_end) FROM latest WHERE width = $width "
        "AND window_end > $since AND name IN ('toka_span_calls', 'toka_span_errors', "
        "'toka_span_duration_seconds') GROUP BY service, name",
        {"width": width, "since": since},
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for service, name, total, n, p95, ts in rows:
        entry = out.setdefault(service, {"service": service, "last_seen": ts})
        entry["last_seen"] = max(entry["last_seen"], ts)
        if name == "toka_span_calls":
            entry["calls_per_second"] = total / width
        elif name == "toka_span_errors":
            entry["error_ratio"] = total / n if n else 0.0
        else:
            entry["p95_seconds"] = _clean(p95)
    return sorted(out.values(), key=lambda e: e["service"])


_ALERT_COLUMNS = ("id, ts, fingerprint, status, severity, alertname, host, rule, value, "
                  "threshold, starts_at, ends_at, labels, annotations")  # fmt: skip


def _alert_rows(cur: duckdb.DuckDBPyConnection, sql: str, params: Any) -> list[dict[str, Any]]:
    rows = _rows(cur, sql, params)
    for row in rows:
        row["labels"] = orjson.loads(row["labels"])
        row["annotations"] = orjson.loads(row["annotations"])
    return rows


def active_alerts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Alerts whose latest change is ``firing``, most severe and oldest first."""
    return _alert_rows(cur, (
        f"SELECT {_ALERT_COLUMNS}, first_ts FROM (SELECT *, min(ts) OVER (PARTITION BY "
        "fingerprint, starts_at) AS first_ts FROM alerts QUALIFY row_number() OVER "
        "(PARTITION BY fingerprint ORDER BY ts DESC) = 1) WHERE status = 'firing' ORDER BY "
        "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'warning' THEN 2 "
        "ELSE 3 END, first_ts"
    ), None)  # fmt: skip


def alerts(cur: duckdb.DuckDBPyConnection, *, since: float, severity: str | None,
           host: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Every alert change since ``since``, newest first, filtered."""
    where = ["ts >= $since"]
    params: dict[str, Any] = {"since": since, "limit": limit}
    for column, value in (("severity", severity), ("host", host), ("status", status)):
        if value:
            where.append(f"{column} = ${column}")
            params[column] = value
    return _alert_rows(cur, f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "
                       "ORDER BY ts DESC LIMIT $limit", params)  # fmt: skip


def findings(cur: duckdb.DuckDBPyConnection, kind: str, *, since: float, host: str | None,
             subject: str | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Findings of one kind (regressions, anomalies, capacity, benchmarks, deadletter)."""
    where = ["kind = $kind AND ts >= $since"]
    params: dict[str, Any] = {"kind": kind, "since": since, "limit": limit}
    for column, value in (("host", host), ("subject", subject)):
        if value:
            where.append(f"{column} = ${column}")
            params[column] = value
    rows = cur.execute(f"SELECT body FROM findings WHERE {' AND '.join(where)} "
                       "ORDER BY ts DESC LIMIT $limit", params).fetchall()  # fmt: skip
    return [orjson.loads(body) for (body,) in rows]


def latest_capacity(cur: duckdb.DuckDBPyConnection, host: str | None) -> list[dict[str, Any]]:
    """The newest forecast of every series."""
    params: dict[str, Any] = {}
    where = "kind = 'capacity'"
    if host:
        where += " AND host = $host"
        params["host"] = host
    rows = cur.execute(f"SELECT body FROM findings WHERE {where} QUALIFY row_number() OVER "
                       "(PARTITION BY subject ORDER BY ts DESC) = 1 ORDER BY subject",
                       params).fetchall()  # fmt: skip
    return [orjson.loads(body) for (body,) in rows]
