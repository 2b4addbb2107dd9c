"""The HTTP security layer for a standard-library ``ThreadingHTTPServer`` (the agent's own
/metrics and /healthz, which stay off aiohttp to keep a system-only agent small).

    server = GuardedHTTPServer((host, port), Handler, policy)   # Handler: GuardedHandler

Every open connection is serving, or waiting for (the rest of) a request. A reaper closes
those waiting past ``read_timeout`` (counted from the connection's start or its previous
answer, so a keep-alive connection is idle-closed the same way); when
``max_connections`` are open, the oldest not-serving one is closed to make room, so idle
or half-sent requests can neither hold the listener nor pile up threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agents.endpoint.policy import EndpointPolicy, Refusal, tls_context

__all__ = ["GuardedHTTPServer", "GuardedHandler"]


@dataclass(slots=True)
class _Open:
    since: float
    busy: bool = False


class GuardedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[GuardedHandler], policy: EndpointPolicy
    ) -> None:
        self.policy = policy
        self._ssl = tls_context(policy.settings)
        self._lock = threading.Lock()
        self._open: dict[socket.socket, _Open] = {}
        self._closed = threading.Event()
        super().__init__(address, handler)
        self._reaper = threading.Thread(target=self._reap, name="toka-http-reaper", daemon=True)
        self._reaper.start()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self._ssl is not None:  # the handshake happens on the first read, in its thread
            sock = self._ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        evicted = full = False
        with self._lock:  # decided under the lock, counted and refused outside it
            if len(self._open) >= self.policy.settings.max_connections:
                idle = [(st.since, s) for s, st in self._open.items() if not st.busy]
                if idle:
                    victim = min(idle, key=lambda pair: pair[0])[1]
                    del self._open[victim]
                    _hang_up(victim)
                    evicted = True
                else:
                    full = True
            if not full:
                self._open[request] = _Open(time.monotonic())
        if evicted:
            self.policy.refuse("evicted")
        if full:  # every connection is serving a request: the newcomer is turned away
            self.policy.refuse("connections")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def mark_idle(self, request: Any) -> None:
        """A keep-alive connection done with one request: waiting counts from now."""
        with self._lock:
            state = self._open.get(request)
            if state is not None:
                state.busy, state.since = False, time.monotonic()

    def mark_busy(self, request: Any) -> bool:
        """False when the connection was already closed (evicted or timed out)."""
        with self._lock:
            state = self._open.get(request)
            if state is None:
                return False
            state.busy = True
            return True

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()
        with self._lock:
            for sock in self._open:
                _hang_up(sock)

    def _reap(self) -> None:
        timeout = self.policy.settings.read_timeout_seconds
        while not self._closed.wait(min(timeout, 4.0) / 4):
            now = time.monotonic()
            with self._lock:
                late = [
                    s for s, st in self._open.items() if not st.busy and now - st.since > timeout
                ]
                for sock in late:
                    del self._open[sock]
                    _hang_up(sock)
            for _ in late:
                self.policy.refuse("read_timeout")


def _hang_up(sock: socket.socket) -> None:
    # shutdown, not close: the handler thread's blocked read returns and it cleans up.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class GuardedHandler(BaseHTTPRequestHandler):
    """Subclass it and implement ``serve_get(path)`` and/or ``serve_post(path, body)``; the
    policy runs first, and a POST body is read whole (Content-Length, within the read
    timeout counted from the connection's start) before ``serve_post`` sees it."""

    server: GuardedHTTPServer

    def setup(self) -> None:
        super().setup()
        self._since = time.monotonic()
        # A backstop per read; the reaper (which counts what it closes) acts first.
        self.connection.settimeout(self.server.policy.settings.read_timeout_seconds + 2.0)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.server.mark_idle(self.request)
            self._since = time.monotonic()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self._admitted()
        if path is not None:
            self.serve_get(path)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        path = self._admitted()
        if path is None:
            return
        body = self._read_body()
        if body is not None:
            self.serve_post(path, body)

    def _admitted(self) -> str | None:
        if not self.server.mark_busy(self.request):
            return None
        path = self.path.split("?", 1)[0]
        refusal = self.server.policy.check(
            path,
            self.headers.get("Authorization"),
            self.client_address[0] if self.client_address else "unknown",
            self._content_length(),
        )
        if refusal is not None:
            self.refuse(refusal)
            return None
        return path

    def _content_length(self) -> int | None:
        length = self.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None

    def _read_body(self) -> bytes | None:
        policy = self.server.policy
        length = self._content_length()
        if length is None or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            policy.refuse("length_required")
            self.refuse(Refusal(411, "length_required", "Content-Length is required"))
            return None
        deadline = self._since + policy.settings.read_timeout_seconds
        chunks, got = [], 0
        while got < length:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)  # a silent client is cut off on time, too
                chunk = self.rfile.read1(min(65536, length - got))
            except TimeoutError:
                self.connection.settimeout(policy.settings.read_timeout_seconds)
                policy.refuse("read_timeout")
                self.refuse(Refusal(408, "read_timeout", "request body too slow"))
                return None
            if not chunk:
                self.close_connection = True
                return None  # the client went away (or was hung up on)
            chunks.append(chunk)
            got += len(chunk)
        self.connection.settimeout(policy.settings.read_timeout_seconds + 2.0)  # for the answer
        return b"".join(chunks)

    def serve_get(self, path: str) -> None:
        self.send(405, {"Content-Type": "text/plain", "Allow": "POST"}, b"use POST\n")

    def serve_post(self, path: str, body: bytes) -> None:
        self.send(405, {"Content-Type": "text/plain", "Allow": "GET"}, b"use GET\n")

    def refuse(self, refusal: Refusal) -> None:
        self.close_connection = True  # an unread body must not be taken for the next request
        headers = {"Content-Type": "text/plain", "Connection": "close", **refusal.headers()}
        self.send(refusal.status, headers, (refusal.message + "\n").encode())

    def send(self, code: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # no access log on every scrape
