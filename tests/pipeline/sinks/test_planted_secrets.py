"""A planted secret in every credential a live run can exercise, then a grep of every log,
every topic and ``toka config show`` for it.

Live here: Alertmanager bearer token (checked by an auth proxy in front of the real
Alertmanager), a scrape target's basic auth with the password in a file (checked by the
target), the bearer tokens of the agent's /metrics and OTLP receiver and of the worker's
web server, and the redaction hash salt. SASL users cannot be created on the embedded
broker: ``kafka.security.sasl_password`` is covered by tests/schemas config tests only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import MetricBatch, Sample, encode, new_id
from schemas.config import load_config
from tests.support.kafka import publish, stop_process, toka_process

pytestmark = [pytest.mark.integration, pytest.mark.peers]

WINDOW = 2.0


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _all_topic_bytes(bootstrap: str, names: list[str]) -> bytes:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    out = bytearray()
    try:
        consumer.subscribe(names)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3:
            got = await consumer.getmany(timeout_ms=500)
            for records in got.values():
                quiet_since = time.monotonic()
                for r in records:
                    out += (r.key or b"") + (r.value or b"")
    finally:
        await consumer.stop()
    return bytes(out)


async def test_no_planted_secret_leaves_its_setting(
    broker: EmbeddedBroker,
    alertmanager,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    secret = f"PLANTED{new_id()[:8]}"
    prefix = f"p{new_id()[:6]}."
    app_id = f"toka-planted-{prefix}"
    (tmp_path / "scrape-password").write_text(f"{secret}-scrape\n")
    (tmp_path / "otlp-token").write_text(f"{secret}-otlp\n")

    # The scrape target and the Alertmanager proxy accept only the planted credentials.
    scraped_with: list[str] = []
    expected_basic = "Basic " + base64.b64encode(f"scraper:{secret}-scrape".encode()).decode()

    async def metrics(request: web.Request) -> web.Response:
        scraped_with.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != expected_basic:
            return web.Response(status=401)
        return web.Response(text="# TYPE app_up gauge\napp_up 1\n")

    posted_with: list[str] = []

    async def alerts(request: web.Request) -> web.Response:
        posted_with.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {secret}-am":
            return web.Response(status=401)
        async with aiohttp.ClientSession() as http:
            url = f"{alertmanager.url}/api/v2/alerts"
            async with http.post(url, data=await request.read(),
                                 headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
                return web.Response(status=resp.status, body=await resp.read())

    target_app, proxy_app = web.Application(), web.Application()
    target_app.router.add_get("/metrics", metrics)
    proxy_app.router.add_post("/api/v2/alerts", alerts)
    target_runner, target_port = await _serve(target_app)
    proxy_runner, proxy_port = await _serve(proxy_app)

    agent_http, agent_otlp, worker_web = free_port(), free_port(), free_port()
    config = {
        "kafka": {"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        "agent": {
            "host": "planted-host",
            "sources": {
                "system": {"enabled": False},
                "prometheus": {"enabled": True, "interval_seconds": 1, "targets": [{
                    "url": f"http://127.0.0.1:{target_port}/metrics", "job": "app",
                    "auth": {"username": "scraper",
                             "password_file": str(tmp_path / "scrape-password")},
                }]},
                "otlp": {"enabled": True, "port": agent_otlp,
                         "security": {"bearer_token_file": str(tmp_path / "otlp-token")}},
            },
            "http": {"port": agent_http, "security": {"bearer_token_env": "PLANTED_AGENT_TOKEN"}},
            "publisher": {"spool_dir": str(tmp_path / "spool")},
            "redaction": {"hash_salt": f"{secret}-salt",
                          "rules": [{"key": "^user$", "action": "hash"}]},
        },
        "pipeline": {
            "app_id": app_id, "window_seconds": [WINDOW], "grace_seconds": 1,
            "idle_close_seconds": 3, "session_timeout_seconds": 6, "web_port": worker_web,
            "data_dir": str(tmp_path / "data"),
            "alertmanager_urls": [f"http://127.0.0.1:{proxy_port}"],
            "alertmanager_resend_seconds": 2,
            "alertmanager_auth": {"bearer_token": f"{secret}-am"},
            "web_security": {"bearer_token_env": "PLANTED_WORKER_TOKEN"},
        },
    }  # fmt: skip
    path = tmp_path / "toka.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PLANTED_AGENT_TOKEN": f"{secret}-agent", "PLANTED_WORKER_TOKEN": f"{secret}-worker"}
    cfg = load_config(path)
    await ensure_topics(cfg)

    shown = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "-c", str(path), "config", "show"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "**********" in shown.stdout  # the settings are there, masked

    worker = toka_process(["-c", str(path), "worker", "--loglevel", "info"], env,
                          tmp_path / "worker.log")  # fmt: skip
    agent = toka_process(["-c", str(path), "agent", "-v"], env, tmp_path / "agent.log")
    host = f"h-{new_id()[:6]}"
    try:
        deadline = time.monotonic() + 60
        while "Worker]: Ready" not in (tmp_path / "worker.log").read_text(errors="replace"):
            assert time.monotonic() < deadline, "worker not ready"
            await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as http:
            # Every token in use: agent /metrics, OTLP (a span with a user to hash), worker.
            auth = {"Authorization": f"Bearer {secret}-agent"}
            async with http.get(f"http://127.0.0.1:{agent_http}/metrics", headers=auth) as r:
                assert r.status == 200
            span = {"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "shop"}}]},
                "scopeSpans": [{"spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                    "name": "GET /cart", "startTimeUnixNano": str(time.time_ns()),
                    "endTimeUnixNano": str(time.time_ns() + 1000),
                    "attributes": [{"key": "user", "value": {"stringValue": "ann"}}],
            }]}]}]}  # fmt: skip
            async with http.post(
                f"http://127.0.0.1:{agent_otlp}/v1/traces", data=json.dumps(span),
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {secret}-otlp"},
            ) as r:  # fmt: skip
                assert r.status == 200
            auth = {"Authorization": f"Bearer {secret}-worker"}
            async with http.get(f"http://127.0.0.1:{worker_web}/metrics", headers=auth) as r:
                assert r.status == 200

        t = (time.time() // WINDOW) * WINDOW
        spike = MetricBatch(id=new_id(), host=host, source="system", ts=t + 0.1,
                            samples=[Sample(name="system_cpu_percent", value=97)])  # fmt: skip
        await publish(
            broker.bootstrap, cfg.kafka.topic("metrics"), [(host.encode(), encode(spike))]
        )

        def shown_in_alertmanager() -> bool:
            return any(a["labels"].get("host") == host for a in alertmanager.alerts())

        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(shown_in_alertmanager):
            assert time.monotonic() < deadline, f"no alert through the auth proxy: {posted_with}"
            await asyncio.sleep(0.5)
        assert expected_basic in scraped_with  # the target was scraped with the credentials
    finally:
        stop_process(agent)
        stop_process(worker)
        await target_runner.cleanup()
        await proxy_runner.cleanup()

    with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts", timeout=5) as resp:
        am_state = resp.read()
    topics = [
        cfg.kafka.topic(k)
        for k in (
            "metrics",
            "spans",
            "aggregates",
            "alerts",
            "deadletter",
            "regressions",
            "anomalies",
            "capacity",
        )
    ]
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    try:
        everything = await consumer.topics()
    finally:
        await consumer.stop()
    topics += [t for t in everything if t.startswith(prefix) or t.startswith(app_id)]
    data = await _all_topic_bytes(broker.bootstrap, sorted(set(topics)))
    assert b"planted-host" in data and b"sha256:" in data  # the run reached the topics
    places = {
        "toka config show": shown.stdout + shown.stderr,
        "worker log": (tmp_path / "worker.log").read_text(errors="replace"),
        "agent log": (tmp_path / "agent.log").read_text(errors="replace"),
        "topics": data.decode(errors="replace"),
        "alertmanager": am_state.decode(errors="replace"),
    }
    leaked = [name for name, text in places.items() if secret in text]
    assert not leaked, f"{secret} found in {leaked}"
