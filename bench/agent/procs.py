"""Process helpers for the agent bench: start, wait for a port, measure CPU and peak RSS."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.05)


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the kernel's high-water mark of resident memory for the process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Window:
    """CPU seconds a process used between ``start()`` and ``stop()``."""

    proc: psutil.Process
    t0: float = 0.0
    c0: float = 0.0
    elapsed: float = 0.0
    cpu: float = 0.0

    def start(self) -> None:
        self.t0, self.c0 = time.monotonic(), cpu_seconds(self.proc)

    def stop(self) -> None:
        self.elapsed = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.proc) - self.c0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
