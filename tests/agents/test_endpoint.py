"""The HTTP security layer: the pure policy, then both adapters on the real agent runtime
(/metrics on the threaded server, OTLP on aiohttp): tokens, probes, held connections,
slow uploads and a stop that never waits on a client."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agents.endpoint.policy import EndpointPolicy
from agents.runtime import AgentRuntime
from pipeline.broker import EmbeddedBroker
from schemas.config import load_config
from schemas.config.endpoint import EndpointSecurity
from schemas.errors import ConfigError
from tests.agents._support import agent_config_file


def _policy(clock: list[float], **settings: Any) -> tuple[EndpointPolicy, list[str]]:
    refused: list[str] = []
    policy = EndpointPolicy(
        EndpointSecurity(**settings), name="t", host="127.0.0.1", max_body_bytes=100,
        on_refuse=refused.append, clock=lambda: clock[0],
    )  # fmt: skip
    return policy, refused


def test_policy_token_probes_rate_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    now = [0.0]
    policy, refused = _policy(now, bearer_token_file=token, requests_per_second=1, burst=2)
    assert policy.check("/metrics", None, "a", None).status == 401  # type: ignore[union-attr]
    assert policy.check("/metrics", "Bearer wrong", "b", None).status == 401  # type: ignore[union-attr]
    assert policy.check("/healthz", None, "c", None) is None  # probes stay token-free
    assert policy.check("/metrics", "Bearer s3cret", "d", 101).status == 413  # type: ignore[union-attr]
    assert policy.check("/metrics", "bearer s3cret", "e", 10) is None
    # per client address: a's third request in the same second is refused
    assert policy.check("/healthz", None, "a", None) is None
    limited = policy.check("/healthz", None, "a", None)
    assert limited is not None and limited.status == 429
    assert limited.headers()["Retry-After"] == "1"
    now[0] = 1.0
    assert policy.check("/healthz", None, "a", None) is None
    assert refused == ["unauthorized", "unauthorized", "too_large", "rate_limited"]

    monkeypatch.setenv("TOKA_TEST_TOKEN", "from-env")
    env_policy, _ = _policy([0.0], bearer_token_env="TOKA_TEST_TOKEN")
    assert env_policy.check("/metrics", "Bearer from-env", "a", None) is None
    monkeypatch.setenv("TOKA_TEST_TOKEN", "")
    with pytest.raises(ConfigError, match="empty"):
        _policy([0.0], bearer_token_env="TOKA_TEST_TOKEN")
    with pytest.raises(ConfigError, match="bearer_token_file"):
        _policy([0.0], bearer_token_file=tmp_path / "missing")


def test_per_token_rate_limit_spans_client_addresses(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("t")
    policy, _ = _policy([0.0], bearer_token_file=token, requests_per_second=1, burst=2)
    results = [policy.check("/m", "Bearer t", f"10.0.0.{i}", None) for i in range(3)]
    assert results[:2] == [None, None] and results[2] is not None and results[2].status == 429


def _runtime(tmp_path: Path, broker: EmbeddedBroker, prefix: str, **security: Any) -> AgentRuntime:
    path = agent_config_file(
        tmp_path, broker.bootstrap, prefix,
        sources={"system": {"enabled": False},
                 "otlp": {"enabled": True, "port": 0, "security": security}},
        http={"enabled": True, "port": 0, "security": security},
    )  # fmt: skip
    return AgentRuntime(load_config(path))


async def _started(runtime: AgentRuntime) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    while runtime.otlp_port is None or runtime.http_port is None:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    return stop, task


def _half_requests(port: int, n: int, path: str) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode())  # never finished
        socks.append(s)
    return socks


def _all_hung_up(socks: list[socket.socket]) -> bool:
    for s in socks:
        s.settimeout(1.0)
        try:
            if s.recv(1024) != b"":
                return False
        except ConnectionResetError:
            pass
    return True


@pytest.mark.integration
async def test_held_connections_do_not_hold_the_listeners(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    runtime = _runtime(tmp_path, broker, topic_prefix, read_timeout_seconds=3, max_connections=16)
    stop, task = await _started(runtime)
    held = []
    try:
        async with aiohttp.ClientSession() as http:
            for port, path in ((runtime.http_port, "/metrics"), (runtime.otlp_port, "/v1/traces")):
                assert port is not None
                held += await asyncio.to_thread(_half_requests, port, 100, path)
                t0 = time.monotonic()
                url = f"http://127.0.0.1:{port}{path}"
                if path == "/metrics":
                    async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                        assert resp.status == 200 and b"toka_agent" in await resp.read()
                else:
                    body = b'{"resourceSpans": []}'
                    headers = {"Content-Type": "application/json"}
                    limit = aiohttp.ClientTimeout(total=5)
                    async with http.post(url, data=body, headers=headers, timeout=limit) as resp:
                        assert resp.status == 200
                assert time.monotonic() - t0 < 2.0  # served at once despite 100 held sockets
        await asyncio.sleep(4.5)  # past the read timeout: the server hung up on every one
        assert await asyncio.to_thread(_all_hung_up, held)
        for name in ("http", "otlp"):
            closed = sum(
                runtime.metrics.value("toka_agent_http_refused_total", endpoint=name, reason=r)
                for r in ("evicted", "read_timeout")
            )
            assert closed >= 100, name
    finally:
        for s in held:
            s.close()
        stop.set()
        await task


@pytest.mark.integration
async def test_token_on_both_endpoints_probes_stay_open(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    token = tmp_path / "token"
    token.write_text("tok-123")
    runtime = _runtime(tmp_path, broker, topic_prefix, bearer_token_file=str(token))
    stop, task = await _started(runtime)
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{runtime.http_port}"
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            auth = {"Authorization": "Bearer tok-123"}
            async with http.get(f"{base}/metrics", headers=auth) as resp:
                assert resp.status == 200
            otlp = f"http://127.0.0.1:{runtime.otlp_port}/v1/traces"
            body, ctype = b'{"resourceSpans": []}', {"Content-Type": "application/json"}
            async with http.post(otlp, data=body, headers=ctype) as resp:
                assert resp.status == 401
            async with http.post(otlp, data=body, headers={**ctype, **auth}) as resp:
                assert resp.status == 200
        assert (
            runtime.metrics.value(
                "toka_agent_http_refused_total", endpoint="otlp", reason="unauthorized"
            )
            == 1
        )
    finally:
        stop.set()
        await task


@pytest.mark.integration
async def test_slow_upload_gets_408_and_never_delays_the_stop(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    runtime = _runtime(tmp_path, broker, topic_prefix, read_timeout_seconds=30)
    stop, task = await _started(runtime)
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.otlp_port)
    writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
    await writer.drain()

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.5)
            writer.write(b" ")
            await writer.drain()

    dribble = asyncio.create_task(trickle())
    await asyncio.sleep(1.0)  # the request is inside its handler, reading the body
    t0 = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    took = time.monotonic() - t0
    dribble.cancel()
    writer.close()
    assert took < 5.0, f"stop took {took:.1f}s with one slow upload open"


@pytest.mark.integration
async def test_stop_within_its_budget_with_kafka_down_and_clients_holding_on(tmp_path: Path):
    """Kafka unreachable (records waiting), 100 half-sent requests and a slow upload open:
    the agent still stops within publisher.shutdown_timeout_seconds (10), and what it had
    collected is in the spool, not lost."""
    from pipeline.broker import free_port

    path = agent_config_file(
        tmp_path, f"127.0.0.1:{free_port()}", "t.",
        sources={"system": {"enabled": True, "interval_seconds": 0.2, "top_processes": 0},
                 "otlp": {"enabled": True, "port": 0}},
        http={"enabled": True, "port": 0},
    )  # fmt: skip
    runtime = AgentRuntime(load_config(path))
    stop, task = await _started(runtime)
    assert runtime.otlp_port is not None and runtime.http_port is not None
    held = await asyncio.to_thread(_half_requests, runtime.http_port, 100, "/metrics")
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.otlp_port)
    writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
    await writer.drain()
    await asyncio.sleep(2.0)  # some collections queued behind the unreachable broker
    t0 = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 15)
    took = time.monotonic() - t0
    writer.close()
    for s in held:
        s.close()
    assert took <= 10.5, f"stop took {took:.1f}s"
    from agents.publish.spool import Spool

    spool = Spool(tmp_path / "spool", 1 << 30)
    assert len(spool) >= 5  # the collections are on disk, for the next start to send
    spool.close()


async def test_guarded_aiohttp_server_for_other_listeners(tmp_path: Path):
    """GuardedServer (the dashboard's and any aiohttp listener's): 401, open probes, 408
    for a slow body, 100 held sockets, and a stop that does not wait for them."""
    from aiohttp import web

    from agents.endpoint.aio import GuardedServer

    token = tmp_path / "token"
    token.write_text("tk")
    refused: list[str] = []
    policy = EndpointPolicy(
        EndpointSecurity(bearer_token_file=token, read_timeout_seconds=2, max_connections=8),
        name="t", host="127.0.0.1", max_body_bytes=1000, on_refuse=refused.append,
    )  # fmt: skip

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application(client_max_size=1000)
    app.router.add_post("/echo", echo)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    server = GuardedServer(app, "127.0.0.1", 0, policy)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": "Bearer tk"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
        async with http.post(f"{base}/echo", data=b"x") as r:
            assert r.status == 401
        async with http.post(f"{base}/echo", data=b"hello", headers=auth) as r:
            assert r.status == 200 and await r.read() == b"hello"
        async with http.post(f"{base}/echo", data=b"x" * 2000, headers=auth) as r:
            assert r.status == 413
    held = await asyncio.to_thread(_half_requests, server.port, 100, "/healthz")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tk\r\n"
                 b"Content-Length: 500\r\n\r\nab")  # fmt: skip
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 6)
    assert b" 408 " in status_line
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as r:
        assert r.status == 200  # served despite the held sockets
    t0 = time.monotonic()
    await server.stop()
    assert time.monotonic() - t0 < 3
    writer.close()
    for s in held:
        s.close()
    assert {"unauthorized", "too_large", "read_timeout", "evicted"} <= set(refused)


def test_a_token_without_tls_off_loopback_warns_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    token = tmp_path / "token"
    token.write_text("t")
    with caplog.at_level(logging.WARNING, logger="toka.endpoint"):
        EndpointPolicy(EndpointSecurity(bearer_token_file=token), name="agent.http",
                       host="127.0.0.1", max_body_bytes=1)  # fmt: skip
        assert not caplog.records
        EndpointPolicy(EndpointSecurity(bearer_token_file=token), name="agent.http",
                       host="0.0.0.0", max_body_bytes=1)  # fmt: skip
    assert "in the clear" in caplog.text and "agent.http" in caplog.text


def test_threaded_server_full_of_serving_connections_refuses_the_next(tmp_path: Path):
    """Every connection busy (slow bodies): a newcomer is closed and counted, the server
    does not lock up, and it serves again once the slow ones time out."""
    import threading

    from agents.endpoint.threaded import GuardedHandler, GuardedHTTPServer

    refused: list[str] = []
    policy = EndpointPolicy(
        EndpointSecurity(max_connections=2, read_timeout_seconds=2), name="t",
        host="127.0.0.1", max_body_bytes=1000, on_refuse=refused.append,
    )  # fmt: skip

    class Handler(GuardedHandler):
        def serve_get(self, path: str) -> None:
            self.send(200, {"Content-Type": "text/plain"}, b"ok")

    server = GuardedHTTPServer(("127.0.0.1", 0), Handler, policy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    slow = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nab")
        slow.append(s)
    time.sleep(0.5)  # both inside their handlers, reading bodies
    late = socket.create_connection(("127.0.0.1", port))
    late.settimeout(3)
    late.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert late.recv(100) == b""  # turned away, at once
    time.sleep(2.5)  # the slow bodies passed the read timeout: 408, connections freed
    with socket.create_connection(("127.0.0.1", port), timeout=3) as ok:
        ok.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert ok.recv(100).startswith(b"HTTP/1.0 200")
    server.shutdown()
    server.server_close()
    for s in [*slow, late]:
        s.close()
    assert "connections" in refused and "read_timeout" in refused
