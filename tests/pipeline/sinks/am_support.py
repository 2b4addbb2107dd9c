"""Run a real Alertmanager (Debian's prometheus-alertmanager) on a free port."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

AM_CONFIG = """
route: {receiver: "null", group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: "null"}]
"""


@dataclass
class Alertmanager:
    url: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def alerts(self) -> list[dict]:
        import orjson

        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as resp:
            return orjson.loads(resp.read())


def start_alertmanager(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (apt-get install it)")
    (tmp / "am.yml").write_text(AM_CONFIG)
    log = open(tmp / "alertmanager.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp / 'am.yml'}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"alertmanager did not start: {(tmp / 'alertmanager.log').read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
