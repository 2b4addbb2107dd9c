"""Live changes to browsers: server-sent events fanned out from the history's appends.

Appends happen on a worker thread; each is handed to the event loop and put on every
client's bounded queue. A client too slow to keep up loses the oldest events (counted):
the page refreshes on its own timer anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

__all__ = ["EventHub"]

_QUEUE = 64


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._clients: set[asyncio.Queue[dict[str, Any]]] = set()
        self.dropped = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish_threadsafe(self, event: dict[str, Any]) -> None:
        """Called from any thread (the store's listener)."""
        self._loop.call_soon_threadsafe(self.publish, event)

    def publish(self, event: dict[str, Any]) -> None:
        for queue in self._clients:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)

    async def stream(self, keepalive: float = 15.0) -> AsyncIterator[bytes]:
        """One client's events as SSE frames, with a comment line as keep-alive."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE)
        self._clients.add(queue)
        try:
            yield b"retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                kind = event.get("type", "append")
                yield b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
        finally:
            with contextlib.suppress(KeyError):
                self._clients.remove(queue)
