"""A real Python process to profile: a known hot function and a known leaking list."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
APP = Path(__file__).with_name("target_app.py")


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, version: str = "1.0") -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, str(APP), str(tmp_path / "sdk"), version, *extra],
            stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(0.3)  # py-spy reads the interpreter's state: let it settle
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
