"""The JSON API, ``/api/v1/...``: every route with the least role that may call it.

Queries run on a thread with a DuckDB cursor of their own, so a slow query never holds
the event loop (and the live stream) up.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError

from pipeline.dashboard import queries
from pipeline.dashboard.auth import AUDIT_TARGET
from pipeline.dashboard.context import CONTEXT, DashboardContext

__all__ = ["ROUTES", "Route", "add_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: str  # the least role: viewer, operator or admin
    summary: str


class BadRequest(web.HTTPBadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(text=orjson.dumps({"error": reason}).decode(),
                         content_type="application/json")  # fmt: skip


def _json(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
                        content_type="application/json")  # fmt: skip


async def _query(request: web.Request, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    ctx = request.app[CONTEXT]
    cursor = ctx.store.cursor()
    try:
        return await asyncio.to_thread(fn, cursor, *args, **kw)
    finally:
        cursor.close()


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: str, key: str) -> float:
    m = _DURATION.match(value.strip())
    if not m:
        raise BadRequest(f"{key}: expected seconds or a duration like 15m, 24h, 7d (got {value!r})")
    return float(m[1]) * _UNITS[m[2]]


def _number(request: web.Request, key: str, default: float) -> float:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{key}: expected a number (got {raw!r})") from None
    if not math.isfinite(value):
        raise BadRequest(f"{key}: expected a finite number (got {raw!r})")
    return value


def _limit(request: web.Request) -> int:
    limit = int(_number(request, "limit", 200))
    if not 1 <= limit <= 5000:
        raise BadRequest(f"limit: between 1 and 5000 (got {limit})")
    return limit


def _recent(ctx: DashboardContext) -> float:
    """Hosts and series count as present if seen within the raw history."""
    return time.time() - ctx.retention.raw_seconds


async def config_view(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    d, thresholds = ctx.cfg.dashboard, ctx.cfg.monitoring.thresholds
    return _json({
        "refresh_interval_seconds": d.refresh_interval_seconds,
        "max_data_points": d.max_data_points, "theme": d.theme, "widgets": ctx.widgets,
        "thresholds": thresholds.model_dump(), "window_seconds": ctx.width,
        "raw_retention_seconds": ctx.retention.raw_seconds,
    })  # fmt: skip


async def status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return _json({
        "records_consumed": ctx.consumer.records if ctx.consumer else 0,
        "records_delivered_again": ctx.consumer.skipped_again if ctx.consumer else 0,
        "history_bytes": ctx.store.size_bytes(), "counts": dict(ctx.store.counts),
        "live_clients": ctx.hub.clients, "live_dropped": ctx.hub.dropped,
        "moved_aside": str(ctx.store.moved_aside) if ctx.store.moved_aside else None,
    })  # fmt: skip


async def overview(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    since = _recent(ctx)
    hosts = await _query(request, queries.hosts, ctx.width, since)
    active = await _query(request, queries.active_alerts)
    recent: list[dict[str, Any]] = []
    for kind in ("regressions", "anomalies"):
        found = await _query(request, queries.findings, kind, since=0, host=None, subject=None,
                             limit=10)  # fmt: skip
        recent += [{"finding": kind, **f} for f in found]
    recent.sort(key=lambda f: -f["ts"])
    return _json({"now": time.time(), "hosts": hosts, "alerts": active, "findings": recent[:15]})


async def hosts(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return _json(await _query(request, queries.hosts, ctx.width, _recent(ctx)))


async def host(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    name = request.match_info["host"]
    series = await _query(request, queries.series_names, name, ctx.width, _recent(ctx))
    if not series:
        raise web.HTTPNotFound(text=orjson.dumps({"error": f"no data for host {name!r}"}).decode(),
                               content_type="application/json")  # fmt: skip
    active = [a for a in await _query(request, queries.active_alerts) if a["host"] == name]
    forecasts = await _query(request, queries.latest_capacity, name)
    return _json({"host": name, "series": series, "alerts": active, "capacity": forecasts})


async def services(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return _json(await _query(request, queries.services, ctx.width, _recent(ctx)))


async def series(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    q = request.query
    name = q.get("name")
    if not name:
        raise BadRequest("name: required (a metric name, e.g. system_cpu_percent)")
    field = q.get("field", "mean")
    if field not in queries.FIELDS:
        raise BadRequest(f"field: one of {', '.join(queries.FIELDS)} (got {field!r})")
    now = time.time()
    end = _number(request, "end", now)
    span = _seconds(q["range"], "range") if "range" in q else 3600.0
    start = _number(request, "start", end - span)
    if start >= end:
        raise BadRequest(f"start must be before end (got {start} >= {end})")
    points = ctx.cfg.dashboard.max_data_points
    step = _seconds(q["step"], "step") if "step" in q else 0.0
    # Buckets aligned to multiples of step: a range of n steps can touch n + 1 of them.
    step = max(step, math.ceil((end - start) / max(points - 1, 1)), 1.0)
    labels = tuple(sorted(_labels(q.get("labels", ""))))
    query = queries.SeriesQuery(name=name, start=start, end=end, step=step, field=field,
                                host=q.get("host") or None, series=q.get("series") or None,
                                labels=labels)  # fmt: skip
    result = await _query(request, queries.series, query, width=ctx.width,
                          raw_seconds=ctx.retention.raw_seconds,
                          minute_seconds=ctx.retention.minute_seconds, now=now)  # fmt: skip
    result.update(start=start, end=end, max_data_points=points)
    return _json(result)


def _labels(text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            raise BadRequest(f"labels: expected key=value,... (got {part!r})")
        pairs.append((key, value))
    return pairs


async def alerts(request: web.Request) -> web.Response:
    q = request.query
    state = q.get("state", "active")
    if state == "active":
        rows = await _query(request, queries.active_alerts)
        for key in ("severity", "host"):
            if q.get(key):
                rows = [r for r in rows if r[key] == q[key]]
        return _json(rows)
    if state != "all":
        raise BadRequest(f"state: active or all (got {state!r})")
    since = _number(request, "since", time.time() - 86400)
    return _json(await _query(request, queries.alerts, since=since, severity=q.get("severity"),
                              host=q.get("host"), status=q.get("status"),
                              limit=_limit(request)))  # fmt: skip


def _findings(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        q = request.query
        if kind == "capacity" and q.get("history") != "1":
            return _json(await _query(request, queries.latest_capacity, q.get("host")))
        return _json(await _query(request, queries.findings, kind,
                                  since=_number(request, "since", 0.0), host=q.get("host"),
                                  subject=q.get("subject"), limit=_limit(request)))  # fmt: skip

    return handler


async def baseline(request: web.Request) -> web.Response:
    """Pin, unpin or reset a regression baseline: what ``toka baseline`` does."""
    action = request.match_info["action"]
    if action not in ("pin", "unpin", "reset"):
        raise BadRequest(f"action: pin, unpin or reset (got {action!r})")
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError:
        raise BadRequest('body: expected JSON {"subject": ...}') from None
    subject = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(subject, str) or not subject:
        raise BadRequest("subject: required (a series id or benchmark name)")
    ctx = request.app[CONTEXT]
    request[AUDIT_TARGET] = subject
    try:
        await ctx.actions.baseline(subject, action)
    except KafkaError as exc:
        raise web.HTTPServiceUnavailable(
            text=orjson.dumps({"error": f"not sent: Kafka unreachable ({exc})"}).decode(),
            content_type="application/json",
        ) from None
    return _json({"subject": subject, "action": action, "sent": True})


async def events(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })  # fmt: skip
    await response.prepare(request)
    try:
        async for frame in ctx.hub.stream():
            await response.write(frame)
    except ConnectionError:  # the browser went away (aiohttp's reset error is one)
        pass
    return response


async def openapi(request: web.Request) -> web.Response:
    from pipeline.dashboard.openapi import describe

    return _json(describe(ROUTES))


ROUTES = [
    Route("GET", "/api/v1/config", config_view, "viewer", "Refresh, data points, widgets"),
    Route("GET", "/api/v1/status", status, "viewer", "The history's own counters"),
    Route("GET", "/api/v1/overview", overview, "viewer", "Hosts, active alerts, findings"),
    Route("GET", "/api/v1/hosts", hosts, "viewer", "Every host with its latest values"),
    Route("GET", "/api/v1/hosts/{host}", host, "viewer", "One host: series, alerts, forecasts"),
    Route("GET", "/api/v1/services", services, "viewer", "Every service with RED values"),
    Route("GET", "/api/v1/series", series, "viewer", "A metric over a time range"),
    Route("GET", "/api/v1/alerts", alerts, "viewer", "Active alerts, or the history"),
    Route("GET", "/api/v1/regressions", _findings("regressions"), "viewer", "Regressions"),
    Route("GET", "/api/v1/anomalies", _findings("anomalies"), "viewer", "Anomalies"),
    Route("GET", "/api/v1/capacity", _findings("capacity"), "viewer", "Capacity forecasts"),
    Route("GET", "/api/v1/benchmarks", _findings("benchmarks"), "viewer", "Benchmark runs"),
    Route(
        "GET",
        "/api/v1/deadletters",
        _findings("deadletter"),
        "admin",
        "Dead letters (they can hold raw input bytes)",
    ),  # fmt: skip
    Route(
        "POST",
        "/api/v1/baselines/{action}",
        baseline,
        "operator",
        "Pin, unpin or reset a regression baseline",
    ),  # fmt: skip
    Route("GET", "/api/v1/events", events, "viewer", "Live changes (server-sent events)"),
    Route("GET", "/api/v1/openapi.json", openapi, "viewer", "This description"),
]


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
