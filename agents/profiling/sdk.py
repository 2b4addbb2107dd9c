"""Opt-in memory profiling for a Python service: tracemalloc snapshots when the agent asks.

    from agents.profiling.sdk import enable_memory_profiling
    enable_memory_profiling(service="checkout", version="1.4.2")

Serves a Unix socket ``<socket_dir>/<pid>.sock`` (owner-only) from a daemon thread. Tracing
runs only during a session: the agent's ``start`` turns tracemalloc on, ``stop`` turns it
off, and so does a lease that runs out (an agent that died mid-session), so a service pays
nothing between sessions. Standard library only: no faust, no agent code.

Protocol: one JSON request line, one JSON answer line, per connection.
``{"op": "hello"}`` (service and version), ``{"op": "start", "frames": 1,
"lease_seconds": 30}``, ``{"op": "snapshot", "top": 200}``
(allocation sites by size: file, line, source text, bytes, count), ``{"op": "stop"}``.
"""

from __future__ import annotations

import json
import linecache
import os
import socketserver
import threading
import tracemalloc
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SOCKET_DIR", "MemoryProfilingServer", "enable_memory_profiling", "socket_path"]

DEFAULT_SOCKET_DIR = Path("/tmp/toka-profiling")
_MAX_REQUEST = 4096


def socket_path(socket_dir: Path, pid: int) -> Path:
    return socket_dir / f"{pid}.sock"


class MemoryProfilingServer:
    def __init__(self, socket_dir: Path, service: str = "", version: str = "") -> None:
        self.path = socket_path(socket_dir, os.getpid())
        self.service, self.version = service, version
        self._lock = threading.Lock()
        self._lease: threading.Timer | None = None
        self._started_tracing = False
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # left by an earlier process with this pid
        server = socketserver.ThreadingUnixStreamServer(str(self.path), self._handler())
        server.daemon_threads = True
        os.chmod(self.path, 0o600)
        self._server = server
        thread = threading.Thread(target=server.serve_forever, name="toka-sdk", daemon=True)
        thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self.path.unlink(missing_ok=True)
        self._stop_tracing()

    # -- requests ----------------------------------------------------------------------------

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            return {"ok": True, "service": self.service, "version": self.version}
        if op == "start":
            with self._lock:
                if not tracemalloc.is_tracing():
                    tracemalloc.start(max(1, int(request.get("frames", 1))))
                    self._started_tracing = True
            self._renew(float(request.get("lease_seconds", 60)))
            return {"ok": True, "service": self.service, "version": self.version}
        if op == "snapshot":
            if not tracemalloc.is_tracing():
                return {"ok": False, "error": "not tracing: send start first"}
            self._renew(None)
            return {"ok": True, "sites": _top_sites(int(request.get("top", 200)))}
        if op == "stop":
            self._stop_tracing()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def _renew(self, seconds: float | None) -> None:
        with self._lock:
            if self._lease is not None:
                self._lease.cancel()
                seconds = seconds if seconds is not None else self._lease.interval
            self._lease = threading.Timer(seconds or 60.0, self._stop_tracing)
            self._lease.daemon = True
            self._lease.start()

    def _stop_tracing(self) -> None:
        with self._lock:
            if self._lease is not None:
                self._lease.cancel()
                self._lease = None
            if self._started_tracing:  # never stop tracing the service started itself
                tracemalloc.stop()
                self._started_tracing = False

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        answer = self.answer

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline(_MAX_REQUEST))
                    reply = answer(request) if isinstance(request, dict) else {"ok": False}
                except Exception as exc:  # noqa: BLE001 - a bad request must not kill the thread
                    reply = {"ok": False, "error": repr(exc)}
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        return Handler


def _top_sites(top: int) -> list[dict[str, Any]]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, path)
            for path in (tracemalloc.__file__, linecache.__file__, __file__)
        ]
    )
    sites = []
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        sites.append({
            "file": frame.filename, "line": frame.lineno, "size": stat.size, "count": stat.count,
            "code": linecache.getline(frame.filename, frame.lineno).strip()[:200],
        })  # fmt: skip
    return sites


def enable_memory_profiling(
    service: str = "", version: str = "", socket_dir: str | Path | None = None
) -> MemoryProfilingServer:
    """Offer tracemalloc snapshots to the agent; returns the server (``close()`` to stop).

    ``socket_dir``: as the agent's ``agent.profiling.sdk_socket_dir`` (default
    /tmp/toka-profiling), or the ``TOKA_PROFILING_SOCKET_DIR`` environment variable.
    """
    chosen = socket_dir or os.environ.get("TOKA_PROFILING_SOCKET_DIR") or DEFAULT_SOCKET_DIR
    server = MemoryProfilingServer(Path(chosen), service, version)
    server.start()
    return server
