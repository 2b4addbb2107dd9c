"""A dashboard over a history filled in-process, served on a real socket for the test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.dashboard.ingest import IngestBatch
from pipeline.dashboard.server import Dashboard
from schemas.codec import encode
from schemas.config import TokaConfig
from tests.pipeline.dashboard.helpers import aggregate, alert, capacity, regression

__all__ = ["TOKENS", "dashboard_client", "fill"]

TOKENS = {
    "viewer-token-0123456789": {"name": "vera", "role": "viewer"},
    "operator-token-0123456789": {"name": "otto", "role": "operator"},
    "admin-token-0123456789": {"name": "ada", "role": "admin"},
}


def config(tmp_path: Path, **dashboard: Any) -> TokaConfig:
    auth = {"audit_file": tmp_path / "audit.jsonl", **dashboard.pop("auth", {})}
    return TokaConfig(dashboard={"history_file": tmp_path / "h.duckdb", "port": 0,
                                 "auth": auth, **dashboard})  # fmt: skip


def fill(dashboard: Dashboard, hosts: int = 3, minutes: int = 30) -> float:
    """Ten-second windows of CPU, memory, disk and network for ``hosts`` hosts, an alert,
    a regression and a capacity forecast. Returns the newest window end."""
    now = time.time() // 10 * 10
    batch = IngestBatch()
    offset = 0

    def add(kind: str, record: Any) -> None:
        nonlocal offset
        batch.add(kind, f"toka.{kind}", 0, offset, ts=now, value=encode(record))
        offset += 1

    for h in range(hosts):
        host = f"host-{h:03d}"
        for i in range(minutes * 6):
            end = now - 10 * i
            add("aggregates", aggregate(host, "system_cpu_percent", end, 20.0 + h + i % 7))
            add("aggregates", aggregate(host, "system_memory_percent", end, 40.0 + h))
            add("aggregates", aggregate(host, "system_disk_used_percent", end, 55.0,
                                        labels={"mount": "/"}))  # fmt: skip
            add("aggregates", aggregate(host, "system_network_receive_bytes_total", end,
                                        1e6 * i, labels={"interface": "eth0"}, rate=1000.0,
                                        type="counter"))  # fmt: skip
    add("alerts", alert("host-000", value=97.0))
    add("alerts", alert("host-001", severity="warning", name="HostMemoryHigh"))
    add("alerts", alert("host-002", status="resolved"))
    add("regressions", regression("host-000|latency|"))
    add("capacity", capacity("host-000"))
    dashboard.store.append(batch)
    return now


@asynccontextmanager
async def dashboard_client(
    cfg: TokaConfig, remote: str | None = None, fill_history: bool = True
) -> AsyncIterator[tuple[TestClient, Dashboard]]:  # noqa: E501
    dashboard = Dashboard(cfg, consume=False)
    if fill_history:
        fill(dashboard)
    app = dashboard.app()
    if remote is not None:  # pretend the client calls from another machine

        @web.middleware
        async def elsewhere(request: web.Request, handler: Any) -> Any:
            return await handler(request.clone(remote=remote))

        app.middlewares.insert(0, elsewhere)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, dashboard
    finally:
        await client.close()
        dashboard.store.close()
