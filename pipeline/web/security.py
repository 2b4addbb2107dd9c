"""The HTTP security layer (agents.endpoint) on Faust's web server: the worker's /metrics,
/healthz, /readyz and Faust's own status pages, under ``pipeline.web_security``.

Faust builds its aiohttp application, runner and site itself; this swaps in the guard's
middleware, runner options (idle keep-alive close, short stop grace) and site (connection
cap, read timeout, TLS) before the web server starts.
"""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from agents.endpoint.aio import GuardedSite, guard_middleware, runner_options
from agents.endpoint.policy import EndpointPolicy
from schemas.config import TokaConfig

__all__ = ["guard_worker_web"]

MAX_BODY_BYTES = 64 * 1024  # the worker's pages take no uploads


def guard_worker_web(app: faust.App, cfg: TokaConfig, registry: CollectorRegistry) -> None:
    refused = Counter(
        "toka_worker_http_refused",
        "HTTP requests or connections the worker's web server refused, by reason",
        ["reason"],
        registry=registry,
    )
    pc = cfg.pipeline
    policy = EndpointPolicy(
        pc.web_security, name="pipeline.web", host=pc.web_bind, max_body_bytes=MAX_BODY_BYTES,
        on_refuse=lambda reason: refused.labels(reason).inc(),
    )  # fmt: skip
    driver: Any = app.web  # faust.web.drivers.aiohttp.Web
    driver.web_app.middlewares.append(guard_middleware(policy))
    driver.web_app._client_max_size = MAX_BODY_BYTES
    driver._runner = web.AppRunner(driver.web_app, **runner_options(pc.web_security))
    # Faust's effective address: `toka worker --web-port N` overrides the configured port.
    driver._transport_handlers["tcp"] = lambda: GuardedSite(
        driver._runner, app.conf.web_bind, app.conf.web_port, policy
    )
