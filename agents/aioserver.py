"""An aiohttp application served on host:port, for the OTLP receiver."""

from __future__ import annotations

from aiohttp import web

__all__ = ["HttpServer"]


class HttpServer:
    """Runs an aiohttp app on host:port (port 0: any free port, see ``port`` after start)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self._runner.addresses:  # the bound port, when asked for port 0
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()
