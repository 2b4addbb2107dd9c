"""Shared fixtures: the real embedded broker on a free port, and a config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker, free_port
from schemas.config import TokaConfig


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the whole test session (topics are made unique per test)."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(port=free_port(), log_file=log) as b:
        yield b


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for tests that stop and restart it."""
    with EmbeddedBroker(port=free_port(), log_file=tmp_path / "tansu.log") as b:
        yield b


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A topic prefix unique to the test, so tests sharing a broker never see each other."""
    from schemas.records import new_id

    return f"t{new_id()[:8]}."


@pytest.fixture
def kafka_config(broker: EmbeddedBroker, topic_prefix: str) -> TokaConfig:
    return TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix})
