"""The embedded broker: a real Kafka-protocol round trip, clean stop, clear port errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.broker import BrokerError, EmbeddedBroker, free_port


async def test_broker_speaks_kafka(broker: EmbeddedBroker, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                compression_type="zstd")  # fmt: skip
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    assert [m.value for msgs in got.values() for m in msgs] == [b"m0", b"m1", b"m2"]


def test_port_in_use_gives_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedBroker(port=port).start()
        res = subprocess.run(
            [sys.executable, "-m", "pipeline.cli.main", "broker", "--port", str(port)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"toka: port {port} on 127.0.0.1 is already in use; "
        "pick another with --port or TOKA_BROKER__PORT"
    ]


def test_toka_broker_command_starts_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"ready on 127.0.0.1:{port}" in line
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the tansu child is gone with it
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.1)
    pytest.fail("broker still accepts connections after toka broker stopped")
