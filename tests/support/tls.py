"""TLS for tests: a self-signed certificate, and the embedded broker behind socat's TLS
(Tansu plain on one port, advertising a second one where socat terminates TLS)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker, free_port

__all__ = ["make_cert", "tls_broker_at"]


def make_cert(tmp: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) for localhost and 127.0.0.1; the certificate is its own CA."""
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def tls_broker_at(tmp: Path) -> Iterator[tuple[str, Path]]:
    """(bootstrap of the TLS port, CA file)."""
    if not shutil.which("socat") or not shutil.which("openssl"):
        pytest.skip("needs socat and openssl (apt-get install socat)")
    cert, key = make_cert(tmp, "server")
    plain, tls = free_port(), free_port()
    listen = f"OPENSSL-LISTEN:{tls},bind=127.0.0.1,reuseaddr,fork,cert={cert},key={key},verify=0"
    proxy = subprocess.Popen(
        ["socat", listen, f"TCP:127.0.0.1:{plain}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", tls), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "socat did not listen"
                time.sleep(0.05)
        with EmbeddedBroker(port=plain, advertised_port=tls, log_file=tmp / "tansu.log"):
            yield f"127.0.0.1:{tls}", cert
    finally:
        proxy.terminate()
        proxy.wait(10)
