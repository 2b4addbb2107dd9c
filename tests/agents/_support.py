"""Helpers for the agent tests: a config file for a test, reading a topic to the end."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer

from schemas.codec import decode


def agent_config_file(tmp_path: Path, bootstrap: str, prefix: str, **agent: Any) -> Path:
    """A YAML config for one test: its broker, its topics, its spool; no fixed ports."""
    block: dict[str, Any] = {
        "host": "test-host",
        "sources": {
            "system": {"interval_seconds": 1, "top_processes": 3},
            "otlp": {"enabled": False},
        },
        "publisher": {"spool_dir": str(tmp_path / "spool"), "request_timeout_seconds": 3},
        "http": {"enabled": False},
    }
    _merge(block, agent)
    path = tmp_path / "toka.yaml"
    path.write_text(
        yaml.safe_dump(
            {"kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix}, "agent": block}
        )
    )
    return path


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int = 1,
    timeout: float = 15.0,
    options: dict[str, Any] | None = None,
) -> list[tuple[bytes | None, Any]]:
    """(key, decoded record) of every record in ``topic`` from the start, waiting until at
    least ``expect`` arrived or ``timeout`` passed."""
    opts = {"bootstrap_servers": bootstrap, **(options or {})}
    consumer = AIOKafkaConsumer(
        topic, auto_offset_reset="earliest", enable_auto_commit=False, **opts
    )
    await consumer.start()
    out: list[tuple[bytes | None, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for msgs in batches.values():
                out += [(m.key, decode(m.value)) for m in msgs]
            if len(out) >= expect and not batches:
                break
    finally:
        await consumer.stop()
    return out


def read_topic_sync(bootstrap: str, topic: str, **kw: Any) -> list[tuple[bytes | None, Any]]:
    return asyncio.run(read_topic(bootstrap, topic, **kw))
