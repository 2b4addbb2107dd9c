"""A TCP proxy that can cut the path to the broker: the network fault of the reliability tests.

``cut()`` stops forwarding in both directions, on open and new connections alike, as a
partition does: nothing is refused or reset, bytes simply stop arriving, and clients find out
through their own timeouts. ``restore()`` lets the held bytes through again, as TCP's
retransmissions would, to whoever still holds a connection. Runs its own event loop on a
thread, so synchronous tests and other event loops can use it.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

__all__ = ["CuttableProxy"]

_CHUNK = 64 * 1024


class CuttableProxy:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.listen_port, self.target_port, self.host = listen_port, target_port, host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._serve, self.host, self.listen_port)

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self._gate().clear)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(self._gate().set)

    def _gate(self) -> asyncio.Event:
        assert self._open is not None, "start() first"
        return self._open

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        await self._gate().wait()  # a connection opened during a cut hangs, as its SYN would
        try:
            broker_r, broker_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, broker_w}
        await asyncio.gather(self._pump(client_r, broker_w), self._pump(broker_r, client_w))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                await self._gate().wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
