"""The agent's own HTTP endpoints: /metrics (Prometheus text) and /healthz (JSON).

Health is 200 while the publisher task and every source loop are alive and 503 otherwise,
so a supervisor restarts an agent that is up but no longer collecting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HttpServer", "make_app"]


def make_app(registry: CollectorRegistry, health: Callable[[], dict[str, Any]]) -> web.Application:
    async def metrics(_req: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_req: web.Request) -> web.Response:
        body = health()
        return web.json_response(body, status=200 if body.get("status") == "ok" else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


class HttpServer:
    """Runs an aiohttp app on host:port (port 0: any free port, see ``port`` after start)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp keeps the bound socket here; needed for port 0
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._runner.cleanup()
