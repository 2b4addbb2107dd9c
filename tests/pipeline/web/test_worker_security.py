"""The endpoint guard on a real worker's web server (Faust's aiohttp): a token on every
page but the probes, Faust's own status pages included, and 100 half-sent requests that
neither hold the listener nor outlive the read timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.request
from pathlib import Path

from pipeline.broker import EmbeddedBroker
from schemas import new_id
from tests.pipeline.web.helpers import http_get, metric_values, wait_until, worker_env
from tests.support.kafka import stop_process, toka_process


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _hold(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


async def test_worker_web_needs_the_token_and_cannot_be_held(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    prefix = f"w{new_id()[:6]}."
    env = worker_env(broker, tmp_path, prefix, 2.0)
    env |= {
        "TOKA_WORKER_TEST_TOKEN": "wtok-1",
        "TOKA_PIPELINE__WEB_SECURITY__BEARER_TOKEN_ENV": "TOKA_WORKER_TEST_TOKEN",
        "TOKA_PIPELINE__WEB_SECURITY__READ_TIMEOUT_SECONDS": "3",
        "TOKA_PIPELINE__WEB_SECURITY__MAX_CONNECTIONS": "16",
    }
    port = int(env["TOKA_PIPELINE__WEB_PORT"])
    web = f"http://127.0.0.1:{port}"
    proc = toka_process(["worker"], env, tmp_path / "worker.log")
    held: list[socket.socket] = []
    try:
        await asyncio.to_thread(
            wait_until, lambda: http_get(f"{web}/readyz")[0] == 200, 60, "worker ready"
        )
        assert _get(f"{web}/healthz")[0] in (200, 503)  # probes: no token needed
        assert _get(f"{web}/metrics")[0] == 401
        assert _get(f"{web}/")[0] == 401  # Faust's own status page
        status, body = _get(f"{web}/metrics", "wtok-1")
        assert status == 200 and b"toka_worker" in body

        held = await asyncio.to_thread(_hold, port, 100)
        t0 = time.monotonic()
        assert _get(f"{web}/metrics", "wtok-1")[0] == 200
        assert time.monotonic() - t0 < 2.0
        await asyncio.sleep(4.5)
        for s in held:  # every one hung up by the worker (closed or reset)
            s.settimeout(2)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(100) == b""
        text = _get(f"{web}/metrics", "wtok-1")[1].decode()
        refused = metric_values(text, "toka_worker_http_refused_total")
        assert refused[(("reason", "unauthorized"),)] == 2
        closed = sum(v for k, v in refused.items() if k[0][1] in ("evicted", "read_timeout"))
        assert closed >= 100
        # Clients still holding on while the worker stops: they do not delay it.
        held = await asyncio.to_thread(_hold, port, 20)
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wtok-1\r\n"
                     b"Content-Length: 50000\r\n\r\nab")  # fmt: skip
        held.append(slow)
        t0 = time.monotonic()
        assert stop_process(proc) == 0
        assert time.monotonic() - t0 < 10
    finally:
        for s in held:
            s.close()
        stop_process(proc)
