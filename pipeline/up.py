"""``toka up``: broker, worker, agent and dashboard as child processes, with a live console.

The console reads ``toka.aggregates`` (one line per window of the local host) and
``toka.alerts`` (one line per state change). Ctrl-C or SIGTERM stops every child; a
child that dies on its own stops the rest and makes ``toka up`` exit non-zero.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.broker import EmbeddedBroker
from pipeline.console import WindowLines, format_alert
from pipeline.topics import ensure_topics
from schemas import Alert, WindowAggregate, decode
from schemas.config import TokaConfig
from schemas.errors import DecodeError, TokaError

__all__ = ["run_up"]


def _child(name: str, config: str | None, env: dict[str, str], *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli.main"]
    if config:
        cmd += ["-c", config]
    # A session of its own: Ctrl-C reaches only `toka up`, which stops the children in order.
    return subprocess.Popen([*cmd, name, *extra], env=env, start_new_session=True)


def run_up(cfg: TokaConfig, config_path: str | None, log_dir: Path) -> int:
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    broker = EmbeddedBroker(cfg.broker.host, cfg.broker.port, log_file=log_dir / "broker.log")
    broker.start()
    env = {**os.environ, "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap}
    cfg = cfg.model_copy(
        update={"kafka": cfg.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})}
    )
    children: dict[str, subprocess.Popen] = {}
    try:
        asyncio.run(ensure_topics(cfg))
        print(f"toka up: broker ready on {broker.bootstrap}", flush=True)
        children["worker"] = _child("worker", config_path, env)
        children["agent"] = _child("agent", config_path, env)
        if cfg.dashboard.enabled:
            children["dashboard"] = _child("dashboard", config_path, env)
            _announce_dashboard(cfg, children["dashboard"])
        if cfg.remote_write.enabled:
            children["remote-write"] = _child("remote-write", config_path, env)
        return asyncio.run(_console(cfg, children, started))
    finally:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in children.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                print(f"toka up: {name} did not stop in 15 s, killing it", flush=True)
                proc.kill()
        broker.stop()
        print("toka up: stopped", flush=True)


def _announce_dashboard(cfg: TokaConfig, proc: subprocess.Popen, wait: float = 30.0) -> None:
    """Print the dashboard's URL once it answers (or say that it has not yet)."""
    import urllib.request

    d = cfg.dashboard
    host = "127.0.0.1" if d.bind in ("0.0.0.0", "") else d.bind
    url = f"http://{host}:{d.port}/"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1):
                print(f"toka up: dashboard on {url}", flush=True)
                return
        except OSError:
            time.sleep(0.3)
    print(f"toka up: dashboard not answering on {url} yet (see its output)", flush=True)


async def _console(cfg: TokaConfig, children: dict[str, subprocess.Popen], started: float) -> int:
    from aiokafka import AIOKafkaConsumer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    aggregates, alerts = cfg.kafka.topic("aggregates"), cfg.kafka.topic("alerts")
    consumer = AIOKafkaConsumer(
        aggregates, alerts, auto_offset_reset="earliest", enable_auto_commit=False,
        **cfg.kafka.client_options(),
    )  # fmt: skip
    await consumer.start()
    lines = WindowLines(cfg.agent.host, size=min(cfg.pipeline.window_seconds))
    ready = False
    try:
        while not stop.is_set():
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(f"toka up: {name} exited with code {proc.returncode}", flush=True)
                    return 1
            batches = await consumer.getmany(timeout_ms=300)
            now = time.time()
            for tp, records in batches.items():
                for rec in records:
                    try:
                        if tp.topic == alerts:
                            print(format_alert(decode(rec.value, Alert)), flush=True)
                        else:
                            lines.add(decode(rec.value, WindowAggregate), now)
                    except DecodeError as exc:
                        print(f"toka up: skipped a bad record on {tp.topic}: {exc}", flush=True)
            for line in lines.ready(now):
                if not ready:
                    ready = True
                    print(
                        f"toka up: first window after {time.monotonic() - started:.1f} s",
                        flush=True,
                    )
                print(line, flush=True)
        return 0
    except TokaError as exc:
        print(f"toka up: {exc}", flush=True)
        return 1
    finally:
        await consumer.stop()
