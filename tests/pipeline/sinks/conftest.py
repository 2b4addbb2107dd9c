"""Fixtures of the sink tests: a real Alertmanager per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker import free_port
from tests.pipeline.sinks.am_support import Alertmanager, start_alertmanager, stop


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    port = free_port()
    proc = start_alertmanager(tmp_path, port)
    am = Alertmanager(f"http://127.0.0.1:{port}", port, proc)
    try:
        yield am
    finally:
        stop(proc)
