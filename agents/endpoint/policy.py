"""The policy of one HTTP listener, whatever serves it: token, rate limits, body size.

Pure and synchronous (a clock is passed in), so the aiohttp and the threaded adapters
share one definition of who gets a 401, 413 or 429, and tests drive it directly.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from agents.limits import TokenBucket
from schemas.config.endpoint import EndpointSecurity
from schemas.errors import ConfigError

__all__ = ["EndpointPolicy", "Refusal", "is_loopback", "read_token", "tls_context"]

log = logging.getLogger("toka.endpoint")

_MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 401, 408, 413, 429, 503
    reason: str  # the counter's label: unauthorized, too_large, rate_limited, ...
    message: str
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        out = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 401:
            out["WWW-Authenticate"] = 'Bearer realm="toka"'
        return out


def read_token(settings: EndpointSecurity, where: str) -> str | None:
    """The configured bearer token, read once; a missing file or variable fails at start."""
    if settings.bearer_token_file is not None:
        try:
            token = settings.bearer_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(where, [(f"{where}.bearer_token_file", str(exc))]) from None
    elif settings.bearer_token_env is not None:
        token = os.environ.get(settings.bearer_token_env, "").strip()
    else:
        return None
    if not token:
        raise ConfigError(where, [(f"{where}.bearer_token_*", "the token is empty")])
    return token


def tls_context(settings: EndpointSecurity) -> ssl.SSLContext | None:
    """The listener's server-side TLS context, or None for plain HTTP."""
    if settings.tls_certfile is None or settings.tls_keyfile is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(settings.tls_certfile), str(settings.tls_keyfile))
    return ctx


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Buckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
            if len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(1) == 1


class EndpointPolicy:
    """``on_refuse(reason)`` is called once per refused request or connection (a counter)."""

    def __init__(
        self,
        settings: EndpointSecurity,
        *,
        name: str,
        host: str,
        max_body_bytes: int,
        on_refuse: Callable[[str], None] = lambda _reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.name, self.max_body_bytes = settings, name, max_body_bytes
        self.on_refuse = on_refuse
        self._token = read_token(settings, name)
        self._open = frozenset(settings.open_paths)
        self._per_client = _Buckets(settings.requests_per_second, settings.burst, clock)
        self._per_token = _Buckets(settings.requests_per_second, settings.burst, clock)
        self._retry_after = max(1, round(1 / settings.requests_per_second))
        # The server adapter's per-connection state, keyed by its protocol object.
        self.connections: dict[object, object] = {}
        if self._token and not is_loopback(host) and settings.tls_certfile is None:
            log.warning(
                "toka %s: a bearer token on %s without TLS travels in the clear; set "
                "tls_certfile/tls_keyfile or bind 127.0.0.1 behind a TLS proxy",
                name, host,
            )  # fmt: skip

    @property
    def token_required(self) -> bool:
        return self._token is not None

    def check(
        self, path: str, authorization: str | None, client: str, content_length: int | None
    ) -> Refusal | None:
        """None: serve it. Checked in this order: client rate, token, token rate, size."""
        refusal = self._check(path, authorization, client, content_length)
        if refusal is not None:
            self.on_refuse(refusal.reason)
        return refusal

    def _check(
        self, path: str, authorization: str | None, client: str, content_length: int | None
    ) -> Refusal | None:
        if not self._per_client.take(client):
            return Refusal(429, "rate_limited", "too many requests", self._retry_after)
        if self._token is not None and path not in self._open:
            given = _bearer(authorization)
            if given is None or not hmac.compare_digest(given.encode(), self._token.encode()):
                return Refusal(401, "unauthorized", "a valid bearer token is required")
            if not self._per_token.take(self._token):
                return Refusal(429, "rate_limited", "too many requests", self._retry_after)
        if content_length is not None and content_length > self.max_body_bytes:
            return Refusal(413, "too_large", f"body over {self.max_body_bytes} bytes")
        return None

    def refuse(self, reason: str) -> None:
        """Count a refusal decided by the server itself (timeout, connection cap)."""
        self.on_refuse(reason)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
