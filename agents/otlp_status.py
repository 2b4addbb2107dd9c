"""The google.rpc.Status body of an OTLP/HTTP error answer, shared by /v1/traces and
/v1/metrics."""

from __future__ import annotations

__all__ = ["status_proto"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def status_proto(code: int, message: str) -> bytes:
    """google.rpc.Status {code = 1; message = 2}, encoded by hand (no extra dependency)."""
    msg = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(msg)) + msg
