"""The agent's own endpoints: /metrics (Prometheus text) and /healthz (JSON).

Served by the standard library's threading HTTP server rather than aiohttp: an agent
running only the system source then never loads aiohttp (about 9 MB of RSS). The endpoint
guard (``agents.endpoint.threaded``) applies the token, rate limits and timeouts. Health is 200
while the publisher task and every source loop are alive and 503 otherwise, so a
supervisor restarts an agent that is up but no longer collecting.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.endpoint.policy import EndpointPolicy
from agents.endpoint.threaded import GuardedHandler, GuardedHTTPServer

__all__ = ["MetricsServer"]

LOOP_TIMEOUT = 5.0


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        health: Callable[[], dict[str, Any]],
        host: str,
        port: int,
        policy: EndpointPolicy,
    ) -> None:
        self.host, self.port = host, port
        self._registry, self._health, self._policy = registry, health, policy
        self._server: GuardedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _handler(self) -> type[GuardedHandler]:
        registry, health = self._registry, self._health_from_loop

        class Handler(GuardedHandler):
            def serve_get(self, path: str) -> None:
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/healthz":
                    body = health()
                    code = 200 if body.get("status") == "ok" else 503
                    self._send(code, "application/json", json.dumps(body).encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send(code, {"Content-Type": ctype}, body)

        return Handler

    def _health_from_loop(self) -> dict[str, Any]:
        """Ask the event loop itself: a blocked loop is an unhealthy agent, too."""
        assert self._loop is not None

        async def ask() -> dict[str, Any]:
            return self._health()

        try:
            return asyncio.run_coroutine_threadsafe(ask(), self._loop).result(LOOP_TIMEOUT)
        except TimeoutError:
            return {"status": "failing", "reason": f"event loop unresponsive for {LOOP_TIMEOUT}s"}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = GuardedHTTPServer((self.host, self.port), self._handler(), self._policy)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="toka-agent-http", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
