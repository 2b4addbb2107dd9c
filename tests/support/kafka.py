"""Publish to and read from the real broker in tests; run `toka` processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["collect", "publish", "stop_process", "toka_process"]


async def publish(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]],
    partition: int | None = None,
) -> list[int]:
    """Send records in order; ``partition`` pins them all (else the key decides).
    Returns their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    offsets = []
    try:
        for key, value in records:
            meta = await producer.send_and_wait(topic, value, key=key, partition=partition)
            offsets.append(meta.offset)
    finally:
        await producer.stop()
    return offsets


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The offset a consumer group has committed on one partition."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, partition))
    finally:
        await consumer.stop()


async def collect(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
    decode: Callable[[bytes], Any] = lambda b: b,
) -> list[Any]:
    """Read ``topic`` from the beginning until ``until(records)`` holds; fail on timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for msgs in batches.values():
                got.extend(decode(m.value) for m in msgs)
            if until(got):
                return got
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    raise AssertionError(f"timed out after {timeout}s on {topic}; got {len(got)}: {got[-5:]}")


def toka_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run ``toka ARGS`` as a real process, output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli.main", *args],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
