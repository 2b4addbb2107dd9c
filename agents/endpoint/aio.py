"""The HTTP security layer for aiohttp applications (the worker's web server, the dashboard).

    policy = EndpointPolicy(settings, name="dashboard", host=host, max_body_bytes=1 << 20,
                            on_refuse=refused_counter.labels("dashboard").inc)
    server = GuardedServer(app, host, port, policy)   # adds the middleware to app
    await server.start(); ...; await server.stop()    # stop: no new connections, open
                                                      # requests get stop_grace seconds

Or piece by piece, for a server built elsewhere (Faust's web): ``guard_middleware(policy)``
in the app's middlewares, ``runner_options(settings)`` for its AppRunner, ``GuardedSite``
instead of TCPSite. The middleware answers 401, 408, 413 and 429 (with Retry-After); the
site closes connections that hold the listener: past ``read_timeout`` without a whole
request, ``idle_timeout`` idle between requests, or the oldest not-busy one when
``max_connections`` are open.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from aiohttp import web

from agents.endpoint.policy import EndpointPolicy, Refusal, tls_context
from schemas.config.endpoint import EndpointSecurity

__all__ = ["GuardedServer", "GuardedSite", "guard_middleware", "runner_options", "tls_context"]

STOP_GRACE_SECONDS = 2.0


def runner_options(
    settings: EndpointSecurity, stop_grace: float = STOP_GRACE_SECONDS
) -> dict[str, Any]:
    """AppRunner keywords: idle keep-alive closes (aiohttp's default holds one an hour) and
    a short wait for open requests at stop (its default is 60 s)."""
    return {
        "access_log": None,
        "keepalive_timeout": settings.idle_timeout_seconds,
        "shutdown_timeout": stop_grace,
        "handler_cancellation": True,
    }


def _refused(r: Refusal) -> web.Response:
    return web.Response(status=r.status, text=r.message + "\n", headers=r.headers())


def guard_middleware(policy: EndpointPolicy) -> Any:
    read_timeout = policy.settings.read_timeout_seconds

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        conn = cast("_Connection | None", policy.connections.get(request.protocol))
        if conn is not None:
            conn.busy += 1
        try:
            refusal = policy.check(
                request.path,
                request.headers.get("Authorization"),
                request.remote or "unknown",
                request.content_length,
            )
            if refusal is not None:
                return _refused(refusal)
            if request.body_exists:
                # Read the whole body here, under the read timeout: a slow upload cannot
                # hold a handler; the handler's own read() returns what was read.
                started = conn.request_started if conn is not None else time.monotonic()
                budget = max(0.0, started + read_timeout - time.monotonic())
                try:
                    async with asyncio.timeout(budget):
                        await request.read()
                except TimeoutError:
                    policy.refuse("read_timeout")
                    return _refused(Refusal(408, "read_timeout", "request body too slow"))
                except web.HTTPRequestEntityTooLarge:
                    policy.refuse("too_large")
                    return _refused(
                        Refusal(413, "too_large", f"body over {policy.max_body_bytes} bytes")
                    )
            return await handler(request)
        finally:
            if conn is not None:
                conn.busy -= 1
                conn.idle_since = time.monotonic()
                conn.served += 1

    return guard


class _Connection(asyncio.Protocol):
    """Wraps aiohttp's protocol to know each connection's age and whether it is serving."""

    def __init__(self, inner: Any, site: GuardedSite) -> None:
        self.inner, self.site = inner, site
        self.transport: asyncio.Transport | None = None
        self.idle_since = self.request_started = time.monotonic()
        self.busy = 0
        self.served = 0
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        if not self.site._admit(self):
            transport.abort()
            return
        self.admitted = True
        self.site._policy.connections[self.inner] = self  # the middleware looks it up
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.site._connections.discard(self)
        self.site._policy.connections.pop(self.inner, None)
        if self.admitted:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.busy and self.served:  # a keep-alive connection's next request
            self.request_started = time.monotonic()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site that caps and reaps connections; TLS from the policy's settings."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, policy: EndpointPolicy):
        super().__init__(runner, ssl_context=tls_context(policy.settings), backlog=128)
        self.host, self.port, self._policy = host, port, policy
        self._connections: set[_Connection] = set()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(server(), self), self.host, self.port,
            ssl=self._ssl_context, backlog=self._backlog, reuse_address=True,
        )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]
        self._reaper = asyncio.create_task(self._reap(), name=f"toka-reaper-{self.port}")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        await super().stop()  # closes the listening socket: nothing new is accepted

    def close_all(self) -> None:
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.abort()

    def _admit(self, conn: _Connection) -> bool:
        if len(self._connections) >= self._policy.settings.max_connections:
            idle = [c for c in self._connections if not c.busy]
            if not idle:
                self._policy.refuse("connections")
                return False
            victim = min(idle, key=lambda c: c.idle_since)
            self._policy.refuse("evicted")
            self._connections.discard(victim)
            if victim.transport is not None:
                victim.transport.abort()
        self._connections.add(conn)
        return True

    async def _reap(self) -> None:
        settings = self._policy.settings
        tick = min(settings.read_timeout_seconds, settings.idle_timeout_seconds, 4.0) / 4
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self._connections):
                if conn.busy or conn.transport is None:
                    continue
                if conn.served == 0 and now - conn.idle_since > settings.read_timeout_seconds:
                    self._policy.refuse("read_timeout")  # never sent a whole request
                elif conn.served and now - conn.idle_since > settings.idle_timeout_seconds:
                    pass  # idle keep-alive: closed, not counted as refused
                else:
                    continue
                self._connections.discard(conn)
                conn.transport.abort()


class GuardedServer:
    """Serves ``app`` on host:port (port 0: any free port, see ``port`` after start)."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        policy: EndpointPolicy,
        stop_grace: float = STOP_GRACE_SECONDS,
    ) -> None:
        app.middlewares.append(guard_middleware(policy))
        self._runner = web.AppRunner(app, **runner_options(policy.settings, stop_grace))
        self._policy = policy
        self.host, self.port = host, port
        self._site: GuardedSite | None = None

    async def start(self) -> None:
        await self._runner.setup()
        self._site = GuardedSite(self._runner, self.host, self.port, self._policy)
        await self._site.start()
        self.port = self._site.port

    async def stop(self) -> None:
        """Stop accepting, give open requests ``stop_grace`` seconds, then close them all."""
        site = self._site
        await self._runner.cleanup()
        if site is not None:
            site.close_all()
