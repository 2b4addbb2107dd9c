"""`toka up` end to end: broker, worker, agent and dashboard as real processes; a synthetic high-CPU
batch fires an alert on the console and a low one resolves it; Ctrl-C stops everything."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from pipeline.broker import free_port


class Console:
    """Reads a process's output lines on a thread so the test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self._q.put(line.rstrip("\n"))

    def wait_for(self, *words: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            self.lines.append(line)
            if all(w in line for w in words):
                return line
        got = "\n".join(self.lines[-40:])
        raise AssertionError(f"no line with {words} in {timeout}s; got:\n{got}")


def test_toka_up_shows_windows_and_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TOKA_BROKER__PORT": str(port),
        "TOKA_PIPELINE__WINDOW_SECONDS": "[2]",
        "TOKA_PIPELINE__GRACE_SECONDS": "0.5",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "2",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "worker"),
        "TOKA_AGENT__SOURCES__SYSTEM__INTERVAL_SECONDS": "1",
        "TOKA_AGENT__SOURCES__OTLP__PORT": str(free_port()),
        "TOKA_AGENT__HTTP__PORT": str(free_port()),
        "TOKA_AGENT__PUBLISHER__SPOOL_DIR": str(tmp_path / "spool"),
        "TOKA_DASHBOARD__PORT": str(dashboard_port := free_port()),
        "TOKA_DASHBOARD__HISTORY_FILE": str(tmp_path / "history.duckdb"),
        "TOKA_DASHBOARD__AUTH__AUDIT_FILE": str(tmp_path / "audit.jsonl"),
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "up", "--log-dir", str(tmp_path / "logs")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    console = Console(proc)
    try:
        console.wait_for("broker ready", timeout=30)
        url = f"http://127.0.0.1:{dashboard_port}/"
        console.wait_for("dashboard on", url, timeout=60)
        with urllib.request.urlopen(url) as page:
            assert b"echarts" in page.read()
        console.wait_for("first window after", timeout=60)
        line = console.wait_for("series", "cpu", "mem", timeout=30)
        ready_s = time.monotonic() - started
        assert ready_s < 60

        demo = f"demo-{port}"
        cmd = [sys.executable, "-m", "pipeline.cli.main", "agent", "publish-synthetic",
               "--host", demo, "--count", "2", "--interval", "0.2"]  # fmt: skip
        env_pub = {**env, "TOKA_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
        subprocess.run([*cmd, "--cpu", "97"], env=env_pub, check=True, timeout=60)
        fired = console.wait_for("FIRING", f"host={demo}", timeout=60)
        assert "critical" in fired and "threshold=85" in fired
        subprocess.run([*cmd, "--cpu", "5"], env=env_pub, check=True, timeout=60)
        console.wait_for("RESOLVED", f"host={demo}", timeout=60)

        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # broker, worker, agent, dashboard
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        console.wait_for("toka up: stopped", timeout=5)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"toka up: first window line after {ready_s:.1f} s: {line}")
