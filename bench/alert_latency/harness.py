"""The moving parts of the alert latency bench: a gauge served over HTTP, a real
Prometheus scraping it, Toka profiles (worker + feeder) reading it, and watchers that note
when each side's alert becomes visible."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientSession, web

from pipeline.broker import free_port

__all__ = ["Gauge", "Profile", "PromAlerts", "TokaAlerts", "start_prometheus", "start_worker"]

METRIC = "toka_bench_gauge"
ALERT = "BenchGaugeHigh"
THRESHOLD = 50.0


class Gauge:
    """One gauge in the Prometheus text format at /metrics: what both sides read.

    Served on ``ports`` ports: Prometheus scrapes each as its own target. A target's scrape
    phase is a hash of its labels, and Prometheus's latency is that phase's distance to the
    rule evaluation, fixed for a whole run; several targets sample several phases, so one
    run is not one lucky or unlucky draw.
    """

    def __init__(self, value: float, ports: int = 1) -> None:
        self.value = value
        self.ports = [free_port() for _ in range(ports)]
        self.port = self.ports[0]
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for port in self.ports:
            await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _metrics(self, _req: web.Request) -> web.Response:
        text = f'# TYPE {METRIC} gauge\n{METRIC}{{bench="alert_latency"}} {self.value}\n'
        return web.Response(text=text, content_type="text/plain")


def _popen(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up; see {log}")


def start_prometheus(tmp: Path, gauge: Gauge, interval: float) -> tuple[subprocess.Popen, str]:
    """Prometheus scraping the gauge every ``interval`` s, evaluating the same rule as often."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed: apt-get install prometheus")
    port = free_port()
    (tmp / "prom-rules.yml").write_text(
        f"groups:\n  - name: bench\n    rules:\n      - alert: {ALERT}\n"
        f"        expr: {METRIC} > {THRESHOLD:g}\n"
    )
    (tmp / "prometheus.yml").write_text(
        f"global: {{scrape_interval: {interval:g}s, evaluation_interval: {interval:g}s}}\n"
        f"rule_files: [{tmp / 'prom-rules.yml'}]\n"
        f"scrape_configs:\n  - job_name: bench\n"
        f"    static_configs: [{{targets: {[f'127.0.0.1:{p}' for p in gauge.ports]}}}]\n"
    )
    log = tmp / "prometheus.log"
    proc = _popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/-/ready", proc, log)
    return proc, url


@dataclass
class Profile:
    """One Toka configuration under test: its own topics, worker and feeder."""

    name: str
    interval: float  # how often the gauge is read and published (agent interval)
    window: float
    grace: float
    prefix: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    def env(self, bootstrap: str, tmp: Path, rules: Path) -> dict[str, str]:
        return {
            **os.environ,
            "TOKA_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "TOKA_KAFKA__TOPIC_PREFIX": self.prefix,
            "TOKA_PIPELINE__APP_ID": f"toka-bench-{self.prefix.rstrip('.')}",
            "TOKA_PIPELINE__WINDOW_SECONDS": f"[{self.window}]",
            "TOKA_PIPELINE__GRACE_SECONDS": str(self.grace),
            "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": str(max(self.window + self.grace, 2.0)),
            "TOKA_PIPELINE__WEB_PORT": str(free_port()),
            "TOKA_PIPELINE__DATA_DIR": str(tmp / f"{self.name}-data"),
            "TOKA_PIPELINE__RULES_FILE": str(rules),
            "TOKA_AGENT__HOST": "bench-host",
            "TOKA_AGENT__INTERVAL_SECONDS": str(self.interval),
        }


def write_toka_rules(tmp: Path) -> Path:
    path = tmp / "toka-rules.yml"
    # the same rule as Prometheus's: the latest value of the gauge above the threshold
    path.write_text(
        f"rules:\n  - name: {ALERT}\n    metric: {METRIC}\n    field: last\n"
        f"    thresholds: {{critical: {THRESHOLD:g}}}\n"
    )
    return path


def start_worker(profile: Profile, env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = _popen(
        [sys.executable, "-m", "pipeline.cli.main", "worker", "--loglevel", "info"], log, env
    )
    profile.procs.append(proc)
    deadline = time.monotonic() + 90
    while "Worker]: Ready" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker {profile.name} did not start; see {log}")
        time.sleep(0.2)
    return proc


def agent_has_prometheus_source() -> bool:
    return importlib.util.find_spec("agents.sources.prometheus") is not None


def start_agent(profile: Profile, env: dict[str, str], gauge: Gauge, log: Path) -> None:
    """``toka agent`` scraping the gauge with its Prometheus source (system source off)."""
    target = orjson.dumps([{"url": gauge.url}]).decode()
    env = {
        **env,
        "TOKA_AGENT__SOURCES__SYSTEM__ENABLED": "false",
        "TOKA_AGENT__SOURCES__OTLP__ENABLED": "false",
        "TOKA_AGENT__SOURCES__PROMETHEUS__ENABLED": "true",
        "TOKA_AGENT__SOURCES__PROMETHEUS__INTERVAL_SECONDS": str(profile.interval),
        "TOKA_AGENT__SOURCES__PROMETHEUS__TARGETS": target,
        # each profile's agent needs a spool and a web port of its own
        "TOKA_AGENT__PUBLISHER__SPOOL_DIR": str(log.parent / f"{profile.name}-spool"),
        "TOKA_AGENT__HTTP__PORT": str(free_port()),
    }
    profile.procs.append(_popen([sys.executable, "-m", "pipeline.cli.main", "agent"], log, env))


async def feed(profile: Profile, bootstrap: str, gauge: Gauge, stop: asyncio.Event) -> None:
    """Stand-in for ``toka agent`` while it has no Prometheus source: read the same HTTP
    gauge every ``interval`` s and publish one MetricBatch per read, as the agent would."""
    from aiokafka import AIOKafkaProducer

    from schemas import MetricBatch, Sample, encode, new_id

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    topic = f"{profile.prefix}metrics"
    try:
        async with ClientSession() as http:
            while not stop.is_set():
                tick = time.time()
                async with http.get(gauge.url) as resp:
                    line = (await resp.text()).strip().splitlines()[-1]
                value = float(line.rsplit(" ", 1)[1])
                sample = Sample(name=METRIC, value=value, labels={"bench": "alert_latency"})
                batch = MetricBatch(
                    id=new_id(), host="bench-host", source="prometheus", ts=tick, samples=[sample]
                )
                await producer.send_and_wait(topic, encode(batch), key=b"bench-host")
                await asyncio.sleep(max(0.0, profile.interval - (time.time() - tick)))
    finally:
        await producer.stop()


class TokaAlerts:
    """Follows ``toka.alerts`` of one profile: is the bench alert firing, since when."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.firing = False
        self.changed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer

        from schemas import Alert, decode

        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                for msgs in (await consumer.getmany(timeout_ms=50)).values():
                    seen = time.time()
                    for m in msgs:
                        a = decode(m.value, Alert)
                        if a.rule == ALERT:
                            self.firing, self.changed_at = a.status == "firing", seen
        finally:
            await consumer.stop()


class PromAlerts:
    """Polls Prometheus's /api/v1/alerts (every 0.1 s) for the bench alert of each target:
    ``firing`` once every target's fires, ``any_firing`` while any does, ``firing_since``
    when each started."""

    def __init__(self, url: str, targets: int) -> None:
        self.url = url + "/api/v1/alerts"
        self.targets = targets
        self.firing_since: dict[str, float] = {}

    @property
    def firing(self) -> bool:
        return len(self.firing_since) == self.targets

    @property
    def any_firing(self) -> bool:
        return bool(self.firing_since)

    async def run(self, stop: asyncio.Event) -> None:
        async with ClientSession() as http:
            while not stop.is_set():
                async with http.get(self.url) as resp:
                    body: dict[str, Any] = await resp.json()
                now = time.time()
                firing = {
                    a["labels"].get("instance", "")
                    for a in body["data"]["alerts"]
                    if a["labels"].get("alertname") == ALERT and a["state"] == "firing"
                }
                for instance in firing - self.firing_since.keys():
                    self.firing_since[instance] = now
                for instance in self.firing_since.keys() - firing:
                    del self.firing_since[instance]
                await asyncio.sleep(0.1)
