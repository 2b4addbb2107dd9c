"""POST alerts to one or more Alertmanagers, retrying with backoff while they are down.

Delivery succeeds once any Alertmanager has accepted the batch (they gossip in a cluster,
and the periodic resend reaches one that was down). While none accepts, ``deliver`` keeps
retrying with exponential backoff: the caller (a stream agent) then stops consuming and
the alerts wait in Kafka rather than in memory. A 4xx answer other than 429 will not get
better with retries: it is logged, counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

__all__ = ["AlertmanagerClient", "Backoff"]

log = logging.getLogger(__name__)


class Backoff:
    """Exponential backoff with full jitter: delays grow from ``first`` up to ``cap``."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
        self.first, self.cap = first, cap
        self._attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2**self._attempt)
        self._attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self._attempt = 0


class _Permanent(Exception):
    pass


class AlertmanagerClient:
    def __init__(
        self,
        urls: list[str],
        timeout: float = 10.0,
        *,
        backoff: Callable[[], Backoff] = Backoff,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        extra_attempts: int = 3,
        authorization: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        """``authorization``: the ``Authorization`` header value for every URL
        (``HttpCredentials.authorization()``), kept out of the URLs that logs print."""
        self.urls = [u.rstrip("/") + "/api/v2/alerts" for u in urls]
        self._authorization = authorization
        self._ca_file = ca_file  # https Alertmanagers signed by a CA of one's own
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.counts: Counter[str] = Counter()
        self._backoff = backoff
        self._sleep = sleep
        self._extra = extra_attempts
        self._session: aiohttp.ClientSession | None = None
        self._last_log = 0.0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, alerts: list[dict[str, Any]]) -> None:
        """One attempt; raises on failure (``_Permanent`` when retrying cannot help)."""
        if self._session is None:
            ssl: Any = None
            if self._ca_file is not None:
                import ssl as ssl_module

                ssl = ssl_module.create_default_context(cafile=self._ca_file)
            connector = aiohttp.TCPConnector(ssl=ssl) if ssl is not None else None
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        body = orjson.dumps(alerts)
        headers = {"Content-Type": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        async with self._session.post(url, data=body, headers=headers) as resp:
            if resp.status < 300:
                return
            text = (await resp.text())[:200]
            if 400 <= resp.status < 500 and resp.status != 429:
                raise _Permanent(f"{url}: HTTP {resp.status}: {text}")
            raise RuntimeError(f"{url}: HTTP {resp.status}: {text}")

    async def deliver(self, alerts: list[dict[str, Any]]) -> bool:
        """Post to every URL until one accepts; False if every URL refused for good."""
        if not alerts:
            return True
        pending, accepted, extra = list(self.urls), False, 0
        backoff = self._backoff()
        while pending:
            results = await asyncio.gather(*(self.post(u, alerts) for u in pending),
                                           return_exceptions=True)  # fmt: skip
            retry = []
            for url, res in zip(pending, results, strict=True):
                if res is None:
                    accepted = True
                    self.counts["posted"] += 1
                elif isinstance(res, _Permanent):
                    self.counts["rejected"] += 1
                    log.error("alertmanager refused %d alert(s): %s", len(alerts), res)
                else:
                    self.counts["failed_attempts"] += 1
                    self._log_failure(url, res)
                    retry.append(url)
            pending = retry
            if accepted:
                extra += 1
                if extra > self._extra:
                    break  # the others get it with the next resend
            elif not pending:
                return False
            if pending:
                await self._sleep(backoff.next())
        return True

    def _log_failure(self, url: str, exc: BaseException) -> None:
        # one line per 30 s at most: a long outage must not flood the log
        now = time.monotonic()
        if now - self._last_log >= 30.0:
            self._last_log = now
            log.warning("alertmanager %s unreachable, retrying: %s", url, exc or type(exc))
