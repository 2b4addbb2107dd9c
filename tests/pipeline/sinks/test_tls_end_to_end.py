"""Every Kafka hop encrypted: a synthetic CPU spike from the agent's publisher, through the
worker (windows, rules, Alertmanager sink), to a real Alertmanager over https, firing and
then resolved. Kafka is only reachable through socat's TLS in front of the embedded
broker, which advertises the TLS port; the Alertmanager serves https with its own CA."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from agents.synthetic import publish_synthetic
from pipeline.broker import free_port
from pipeline.topics import ensure_topics
from schemas import new_id
from schemas.config import load_config
from tests.support.kafka import stop_process, toka_process
from tests.support.tls import make_cert, tls_broker_at

pytestmark = [pytest.mark.integration, pytest.mark.peers]

WINDOW = 2.0


def _https_alertmanager(tmp: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed")
    cert, key = make_cert(tmp, "alertmanager")
    (tmp / "am.yml").write_text(
        'route: {receiver: "null", group_wait: 1s, group_interval: 1s, repeat_interval: 1h}\n'
        'receivers: [{name: "null"}]\n'
    )
    (tmp / "web.yml").write_text(yaml.safe_dump(
        {"tls_server_config": {"cert_file": str(cert), "key_file": str(key)}}
    ))  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp / 'am.yml'}", f"--storage.path={tmp / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         f"--web.config.file={tmp / 'web.yml'}"],
        stdout=open(tmp / "alertmanager.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            _get(f"{url}/-/ready", cert)
            return proc, url, cert
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((tmp / "alertmanager.log").read_text()) from None
            time.sleep(0.1)


def _get(url: str, ca: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:
        return resp.read()


async def test_cpu_spike_to_resolved_alert_with_every_hop_over_tls(tmp_path: Path) -> None:
    am, am_url, am_ca = _https_alertmanager(tmp_path)
    try:
        with tls_broker_at(tmp_path) as (bootstrap, kafka_ca):
            prefix = f"tls{new_id()[:6]}."
            path = tmp_path / "toka.yaml"
            path.write_text(yaml.safe_dump({
                "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix,
                          "security": {"protocol": "SSL", "ssl_cafile": str(kafka_ca)}},
                "pipeline": {
                    "app_id": f"toka-tls-{prefix}", "window_seconds": [WINDOW],
                    "grace_seconds": 1, "idle_close_seconds": 3,
                    "session_timeout_seconds": 6, "web_port": free_port(),
                    "data_dir": str(tmp_path / "data"), "alertmanager_urls": [am_url],
                    "alertmanager_ca_file": str(am_ca), "alertmanager_resend_seconds": 2,
                },
            }))  # fmt: skip
            cfg = load_config(path)
            await ensure_topics(cfg)
            log = tmp_path / "worker.log"
            worker = toka_process(["-c", str(path), "worker", "--loglevel", "info"], {}, log)
            host = f"tls-{new_id()[:6]}"

            def mine() -> list[dict]:
                alerts = json.loads(_get(f"{am_url}/api/v2/alerts", am_ca))
                return [a for a in alerts if a["labels"].get("host") == host]

            async def until(check, timeout: float, what: str) -> object:  # noqa: ANN001
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if got := await asyncio.to_thread(check):
                        return got
                    await asyncio.sleep(0.5)
                raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")

            try:
                await until(lambda: "Worker]: Ready" in log.read_text(errors="replace"), 90,
                            "the worker to be ready")  # fmt: skip
                await asyncio.to_thread(publish_synthetic, cfg, cpu=97.0, memory=None,
                                        host=host)  # fmt: skip
                (shown,) = await until(mine, 60, "the firing alert in Alertmanager (https)")
                assert shown["labels"]["alertname"] == "HostCpuHigh"
                assert shown["status"]["state"] == "active"
                await asyncio.to_thread(publish_synthetic, cfg, cpu=5.0, memory=None,
                                        host=host, count=3, interval=WINDOW)  # fmt: skip
                await until(lambda: not mine(), 60, "the alert to resolve in Alertmanager")
            finally:
                code = stop_process(worker)
            text = log.read_text(errors="replace")
            assert code == 0, text[-3000:]
            assert "Traceback" not in text, text[-3000:]
    finally:
        am.terminate()
        am.wait(10)
