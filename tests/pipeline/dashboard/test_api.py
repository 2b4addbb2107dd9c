"""Every API route on a real socket, over a history filled in process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jsonschema
import pytest

from pipeline.dashboard.api import ROUTES
from tests.pipeline.dashboard.api_support import config, dashboard_client


@pytest.fixture
def cfg(tmp_path: Path):  # type: ignore[no-untyped-def]
    return config(tmp_path, max_data_points=50)


async def test_hosts_and_overview_carry_the_latest_values(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        hosts = await (await client.get("/api/v1/hosts")).json()
        assert [h["host"] for h in hosts] == ["host-000", "host-001", "host-002"]
        first = hosts[0]
        assert first["cpu"] == 20.0 and first["memory"] == 40.0 and first["disk"] == 55.0
        assert first["network_rx"] == 1000.0
        overview = await (await client.get("/api/v1/overview")).json()
        assert len(overview["hosts"]) == 3
        # active alerts: the resolved one is not there; critical before warning
        assert [a["severity"] for a in overview["alerts"]] == ["critical", "warning"]
        assert overview["findings"][0]["finding"] == "regressions"


async def test_host_page_and_unknown_host(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        body = await (await client.get("/api/v1/hosts/host-000")).json()
        assert {s["name"] for s in body["series"]} >= {"system_cpu_percent",
                                                       "system_memory_percent"}  # fmt: skip
        assert body["alerts"][0]["alertname"] == "HostCpuHigh"
        assert body["capacity"][0]["model"] == "linear"
        missing = await client.get("/api/v1/hosts/nowhere")
        assert missing.status == 404 and "nowhere" in (await missing.json())["error"]


async def test_series_respects_max_data_points_and_levels(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        r = await client.get("/api/v1/series", params={
            "name": "system_cpu_percent", "host": "host-001", "range": "30m"})  # fmt: skip
        body = await r.json()
        assert body["level"] == "raw" and len(body["series"]) == 1
        points = body["series"][0]["points"]
        assert 30 <= len(points) <= 50  # 180 windows, at most max_data_points=50
        assert body["step"] == 37  # ceil(1800 / 49)
        assert all(21.0 <= v <= 27.0 for _, v in points)
        day = await (await client.get("/api/v1/series", params={
            "name": "system_cpu_percent", "range": "24h", "field": "max"})).json()  # fmt: skip
        assert day["level"] == "rollup_1m" and len(day["series"]) == 3
        assert all(len(s["points"]) <= 50 for s in day["series"])
        labelled = await (await client.get("/api/v1/series", params={
            "name": "system_disk_used_percent", "labels": "mount=/"})).json()  # fmt: skip
        assert len(labelled["series"]) == 3
        none = await (await client.get("/api/v1/series", params={
            "name": "system_disk_used_percent", "labels": "mount=/data"})).json()  # fmt: skip
        assert none["series"] == []
        pct = await (await client.get("/api/v1/series", params={
            "name": "system_cpu_percent", "field": "p95", "range": "24h"})).json()  # fmt: skip
        assert pct["approximate"] is True  # no sketches in these records


@pytest.mark.parametrize(("params", "words"), [
    ({}, "name: required"),
    ({"name": "x", "field": "median"}, "field: one of"),
    ({"name": "x", "range": "forever"}, "range: expected"),
    ({"name": "x", "start": "10", "end": "5"}, "start must be before end"),
    ({"name": "x", "labels": "nolabel"}, "labels: expected"),
    ({"name": "x", "end": "nan"}, "end: expected a finite number"),
])  # fmt: skip
async def test_series_refuses_bad_parameters_with_the_reason(cfg, params, words) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg, fill_history=False) as (client, _):
        r = await client.get("/api/v1/series", params=params)
        assert r.status == 400 and words in (await r.json())["error"]


async def test_alerts_filters_and_history(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        active = await (await client.get("/api/v1/alerts")).json()
        assert len(active) == 2
        warning = await (await client.get("/api/v1/alerts?severity=warning")).json()
        assert [a["alertname"] for a in warning] == ["HostMemoryHigh"]
        every = await (await client.get("/api/v1/alerts?state=all&limit=10")).json()
        assert {a["status"] for a in every} == {"firing", "resolved"}
        resolved = await (await client.get("/api/v1/alerts?state=all&status=resolved")).json()
        assert [a["host"] for a in resolved] == ["host-002"]
        bad = await client.get("/api/v1/alerts?state=sometimes")
        assert bad.status == 400


async def test_findings_routes(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        regs = await (await client.get("/api/v1/regressions")).json()
        assert regs[0]["change_percent"] == 50.0
        assert await (await client.get("/api/v1/anomalies")).json() == []
        cap = await (await client.get("/api/v1/capacity?host=host-000")).json()
        assert cap[0]["forecasts"][0]["horizon_days"] == 30
        assert await (await client.get("/api/v1/capacity?host=other")).json() == []
        assert await (await client.get("/api/v1/benchmarks")).json() == []
        assert await (await client.get("/api/v1/deadletters")).json() == []  # local admin
        services = await (await client.get("/api/v1/services")).json()
        assert services == []
        assert (await client.get("/api/v1/regressions?limit=0")).status == 400


async def test_config_status_whoami_and_openapi(cfg) -> None:  # type: ignore[no-untyped-def]
    async with dashboard_client(cfg) as (client, _):
        conf = await (await client.get("/api/v1/config")).json()
        assert conf["max_data_points"] == 50
        assert conf["widgets"][0]["metric"] == "system_cpu_percent"  # cpu_usage_percent mapped
        status = await (await client.get("/api/v1/status")).json()
        assert status["history_bytes"] > 0
        me = await (await client.get("/api/v1/whoami")).json()
        assert me["role"] == "admin" and me["open_mode"] is True and me["csrf"]
        spec = await (await client.get("/api/v1/openapi.json")).json()
        for route in ROUTES:
            assert route.method.lower() in spec["paths"][route.path]
        assert spec["openapi"] == "3.1.0"
        page = await client.get("/")
        assert page.status == 200 and "echarts" in await page.text()
        assert (await client.get("/healthz")).status == 200


async def test_events_stream_pushes_appends(cfg) -> None:  # type: ignore[no-untyped-def]
    from tests.pipeline.dashboard.api_support import fill

    async with dashboard_client(cfg, fill_history=False) as (client, dashboard):
        response = await client.get("/api/v1/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        assert (await response.content.readline()).startswith(b"retry:")
        await response.content.readline()
        await asyncio.to_thread(fill, dashboard, 1, 1)
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline and not any(b"data:" in x for x in lines):
            lines.append(await asyncio.wait_for(response.content.readline(), 5))
        assert b"event: append\n" in lines
        assert any(b'"alerts":3' in x for x in lines)
        response.close()


def test_openapi_is_valid_json_schema_shape() -> None:
    from pipeline.dashboard.openapi import describe

    spec = describe(ROUTES)
    # every parameter has a schema, every operation a summary: what client generators need
    for ops in spec["paths"].values():
        for op in ops.values():
            assert op["summary"]
            for p in op["parameters"]:
                jsonschema.Draft202012Validator.check_schema(p["schema"])


async def test_services_carry_red_values_from_span_aggregates(cfg) -> None:  # type: ignore[no-untyped-def]
    from pipeline.dashboard.ingest import IngestBatch
    from schemas.codec import encode
    from tests.pipeline.dashboard.helpers import aggregate

    async with dashboard_client(cfg, fill_history=False) as (client, dashboard):
        end = time.time() // 10 * 10
        labels = {"service": "checkout", "operation": "GET /cart"}
        batch = IngestBatch()
        red = [
            aggregate("h1", "toka_span_calls", end, 1.0, labels=labels),  # 2 calls
            aggregate("h1", "toka_span_errors", end, 0.5, labels=labels),  # 1 of 2 failed
            aggregate("h1", "toka_span_duration_seconds", end, 0.2, labels=labels, p95=0.25),
        ]
        for i, agg in enumerate(red):
            batch.add("aggregates", "toka.aggregates", 0, i, ts=end, value=encode(agg))
        dashboard.store.append(batch)
        services = await (await client.get("/api/v1/services")).json()
        assert services == [{"service": "checkout", "last_seen": end,
                             "calls_per_second": 0.2, "error_ratio": 0.5,
                             "p95_seconds": 0.25}]  # fmt: skip
        calls = await (await client.get("/api/v1/series", params={
            "name": "toka_span_calls", "labels": "service=checkout", "field": "sum",
            "range": "15m"})).json()  # fmt: skip
        assert [p[1] for p in calls["series"][0]["points"]] == [2.0]


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    from pipeline.dashboard.server import Dashboard, DashboardError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dashboard = Dashboard(config(tmp_path, port=port), consume=False)
        with pytest.raises(DashboardError, match=f"cannot listen on 127.0.0.1:{port}"):
            await dashboard.start()


async def test_the_live_stream_outlives_the_listener_idle_and_read_timeouts(
    tmp_path: Path,
) -> None:
    """The shared HTTP layer closes idle and slow connections; a live stream is neither."""
    import aiohttp

    from pipeline.dashboard.server import Dashboard
    from tests.pipeline.dashboard.api_support import fill

    cfg = config(tmp_path, security={"idle_timeout_seconds": 1, "read_timeout_seconds": 1})
    dashboard = Dashboard(cfg, consume=False)
    url = await dashboard.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "api/v1/events") as r:
            await r.content.readline()
            await asyncio.sleep(3.0)  # past both timeouts
            await asyncio.to_thread(fill, dashboard, 1, 1)
            lines = [await asyncio.wait_for(r.content.readline(), 5) for _ in range(3)]
            assert b"event: append\n" in lines
    finally:
        await dashboard.stop()
