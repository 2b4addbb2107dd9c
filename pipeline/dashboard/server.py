"""``toka dashboard``: the history consumer, the API and the web UI in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from pathlib import Path

from aiohttp import web

from agents.endpoint.aio import GuardedSite, guard_middleware, runner_options
from agents.endpoint.policy import EndpointPolicy
from pipeline.dashboard.actions import Actions
from pipeline.dashboard.api import ROUTES, add_routes
from pipeline.dashboard.audit import AuditLog
from pipeline.dashboard.auth import Access
from pipeline.dashboard.consumer import HistoryConsumer
from pipeline.dashboard.context import CONTEXT, DashboardContext
from pipeline.dashboard.events import EventHub
from pipeline.dashboard.store import HistoryStore, Retention
from pipeline.dashboard.widgets import resolve_widgets
from schemas.config import TokaConfig
from schemas.errors import ConfigError, TokaError

__all__ = ["Dashboard", "DashboardError", "retention_of", "run_dashboard"]

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
#: Request bodies the API takes are small JSON objects ({"subject": ...}, a login token).
_MAX_BODY = 64 * 1024


class DashboardError(TokaError):
    """The dashboard cannot start (its address is taken, ...)."""


def retention_of(cfg: TokaConfig) -> Retention:
    d = cfg.dashboard
    return Retention(
        raw_seconds=cfg.monitoring.history_retention_minutes * 60.0,
        minute_seconds=d.minute_rollup_retention_hours * 3600.0,
        hour_seconds=d.hour_rollup_retention_days * 86400.0,
        findings_seconds=d.findings_retention_days * 86400.0,
        max_bytes=d.max_history_mb * 2**20,
    )


class Dashboard:
    """Start, serve, stop. ``consume=False`` serves an existing history without Kafka
    (tests of the API, the bench)."""

    def __init__(self, cfg: TokaConfig, *, consume: bool = True) -> None:
        try:
            widgets = resolve_widgets(cfg.dashboard.widgets)
        except ValueError as exc:
            raise ConfigError("dashboard", [("dashboard.widgets", str(exc))]) from None
        self.cfg, self._consume = cfg, consume
        width = min(cfg.pipeline.window_seconds)
        self.store = HistoryStore(cfg.dashboard.history_file, retention_of(cfg), width)
        self.actions = Actions(cfg)
        self.audit = AuditLog(cfg.dashboard.auth.audit_file, self.actions if consume else None)
        roles = {(r.method, r.path): r.role for r in ROUTES}
        roles[("GET", "/api/v1/whoami")] = "viewer"
        roles[("POST", "/logout")] = "viewer"
        self.access = Access(cfg.dashboard.auth, self.audit, roles)
        if cfg.dashboard.security.bearer_token_file or cfg.dashboard.security.bearer_token_env:
            raise ConfigError("dashboard", [("dashboard.security.bearer_token_*",
                              "not used by the dashboard: give tokens with roles in "
                              "dashboard.auth.tokens_file")])  # fmt: skip
        #: The shared HTTP layer (agents.endpoint): caps, timeouts, body size, rate limit.
        self.refused: Counter[str] = Counter()
        self.policy = EndpointPolicy(
            cfg.dashboard.security, name="dashboard", host=cfg.dashboard.bind,
            max_body_bytes=_MAX_BODY, on_refuse=lambda reason: self.refused.update([reason]),
        )  # fmt: skip
        self.widgets, self.width = widgets, width
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.consumer: HistoryConsumer | None = None

    def app(self) -> web.Application:
        hub = EventHub(asyncio.get_running_loop())
        self.store.on_append(lambda summary: hub.publish_threadsafe({"type": "append", **summary}))
        app = web.Application(middlewares=[guard_middleware(self.policy), self.access.middleware])
        app[CONTEXT] = DashboardContext(
            cfg=self.cfg, store=self.store, hub=hub, actions=self.actions, access=self.access,
            widgets=self.widgets, width=self.width, retention=self.store.retention,
            consumer=self.consumer,
        )  # fmt: skip
        add_routes(app)
        app.router.add_get("/api/v1/whoami", self.access.whoami)
        app.router.add_post("/login", self.access.login)
        app.router.add_post("/logout", self.access.logout)
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/", _index)
        app.router.add_get("/login", _index)
        app.router.add_static("/static/", WEB_DIR)
        return app

    async def start(self) -> str:
        if self._consume:
            await self.actions.start()
            self.consumer = HistoryConsumer(self.cfg, self.store)
            self._task = asyncio.create_task(self.consumer.run())
        d = self.cfg.dashboard
        self._runner = web.AppRunner(self.app(), **runner_options(d.security))
        await self._runner.setup()
        site = GuardedSite(self._runner, d.bind, d.port, self.policy)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise DashboardError(f"cannot listen on {d.bind}:{d.port}: {exc.strerror} "
                                 "(set dashboard.port or dashboard.bind)") from None  # fmt: skip
        port = site.port
        host = "127.0.0.1" if d.bind in ("0.0.0.0", "") else d.bind
        self.url = f"http://{host}:{port}/"
        if self.store.moved_aside:
            log.warning("history file was corrupt: kept as %s; rebuilding from Kafka",
                        self.store.moved_aside)  # fmt: skip
        return self.url

    async def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
        if self._task is not None:
            await self._task
        if self._runner is not None:
            await self._runner.cleanup()
        await self.audit.flush()
        await self.actions.stop()  # it may have connected on first use
        self.store.close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def run_dashboard(cfg: TokaConfig) -> int:
    async def main() -> int:
        dashboard = Dashboard(cfg)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        url = await dashboard.start()
        print(f"toka dashboard: serving {url} ({dashboard.access.describe()})", flush=True)
        print(f"toka dashboard: history {cfg.dashboard.history_file}", flush=True)
        try:
            waiter = asyncio.create_task(stop.wait())
            assert dashboard._task is not None
            done, _ = await asyncio.wait({waiter, dashboard._task},
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if dashboard._task in done:
                dashboard._task.result()  # the consumer died: say why, exit non-zero
                return 1
            return 0
        finally:
            await dashboard.stop()

    return asyncio.run(main())
