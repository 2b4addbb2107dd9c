"""POST remote-write requests: retry what may succeed later, count what never will.

5xx, 429 and network errors are retried with backoff for as long as it takes (the caller
holds its Kafka offsets meanwhile, so a receiver that is down loses nothing); any other
4xx (out-of-order or duplicate samples, a bad label) will not get better: the samples are
counted as rejected and never retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from pipeline.sinks.client import Backoff
from pipeline.sinks.remote_write.proto import CONTENT_HEADERS

__all__ = ["RemoteWriteSender"]

log = logging.getLogger(__name__)


class RemoteWriteSender:
    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        backoff: Callable[[], Backoff] = Backoff,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_retry: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        self.url = url
        self._headers = {**CONTENT_HEADERS, **(headers or {})}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._backoff = backoff
        self._sleep = sleep
        self._on_retry = on_retry
        self._session: aiohttp.ClientSession | None = None
        self._last_log = 0.0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, body: bytes, stop: asyncio.Event | None = None) -> int | None:
        """Post ``body`` until the receiver answers for good: the final HTTP status (2xx
        taken, 4xx rejected), or None when ``stop`` was set while retrying."""
        backoff = self._backoff()
        while True:
            try:
                status, text = await self._post(body)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                status, text = None, repr(exc)
            if status is not None and (status < 300 or (status < 500 and status != 429)):
                if status >= 300:
                    log.warning("remote write rejected (HTTP %d, not retried): %s", status, text)
                return status
            reason = "network" if status is None else str(status)
            self._on_retry(reason)
            self._log_retry(reason, text)
            delay = backoff.next()
            if stop is None:
                await self._sleep(delay)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return None
                except TimeoutError:
                    pass

    async def _post(self, body: bytes) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(self.url, data=body, headers=self._headers) as resp:
            return resp.status, (await resp.text())[:300] if resp.status >= 300 else ""

    def _log_retry(self, reason: str, text: str) -> None:
        now = time.monotonic()  # one line per 30 s: a long outage must not flood the log
        if now - self._last_log >= 30.0:
            self._last_log = now
            log.warning("remote write to %s failed (%s), retrying: %s", self.url, reason, text)
