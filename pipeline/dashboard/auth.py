"""Who may do what: tokens with roles, browser sessions, CSRF, rate limits.

A thin layer of the same shape as the agent-hardening issue's HTTP security layer (bearer
tokens from a file, a rate limit per token and per client address, 401/429 with a reason),
plus what a browser needs: a login form that trades the token for an HttpOnly session
cookie, and a CSRF token on every change made with that cookie.

Roles rank viewer < operator < admin. With no tokens file, every caller must come from a
loopback address, and is treated as the local admin.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web

from pipeline.dashboard.audit import AuditLog
from schemas.config.seed import DashboardAuth
from schemas.errors import ConfigError

__all__ = ["AUDIT_TARGET", "CALLER", "ROLES", "Access", "Caller", "load_tokens"]

ROLES = {"viewer": 0, "operator": 1, "admin": 2}
SESSION_COOKIE, CSRF_HEADER = "toka_session", "X-CSRF-Token"
#: Paths anyone may load: the page itself holds no data, and the login form.
_PUBLIC = ("/", "/login", "/healthz")
_PUBLIC_PREFIX = "/static/"
#: Rate-limit buckets kept (one per client address and per token).
_MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    via: str  # token, session or loopback
    csrf: str = ""


CALLER = web.RequestKey("toka_caller", Caller)


#: What a request's handler names as the object of a change (for the audit record).
AUDIT_TARGET = web.RequestKey("toka_audit_target", str)


@dataclass
class _Session:
    caller: Caller
    expires: float


def load_tokens(path: Path | None) -> dict[str, tuple[str, str]]:
    """token -> (name, role) from a YAML/JSON mapping ``token: {name: ..., role: ...}``."""
    if path is None:
        return {}
    where = f"dashboard.auth.tokens_file ({path})"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(where, [("(file)", f"cannot read: {exc}")]) from None
    problems, tokens = [], {}
    for token, entry in data.items() if isinstance(data, dict) else ():
        role = entry.get("role") if isinstance(entry, dict) else None
        if role not in ROLES or len(str(token)) < 16:
            problems.append((str(token)[:4] + "...", "needs a role (viewer, operator, admin) "
                             "and a token of at least 16 characters"))  # fmt: skip
            continue
        tokens[str(token)] = (str(entry.get("name") or role), role)
    if not isinstance(data, dict) or problems or not tokens:
        raise ConfigError(where, problems or [("(root)", "expected token: {name, role}")])
    return tokens


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _error(status: type[web.HTTPException], reason: str, **headers: str) -> web.HTTPException:
    return status(text=orjson.dumps({"error": reason}).decode(),
                  content_type="application/json", headers=headers or None)  # fmt: skip


class Access:
    def __init__(self, cfg: DashboardAuth, audit: AuditLog,
                 roles_by_route: dict[tuple[str, str], str]) -> None:  # fmt: skip
        self._cfg, self.audit, self._roles = cfg, audit, roles_by_route
        self._tokens = load_tokens(cfg.tokens_file)
        self._sessions: dict[str, _Session] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._loopback_csrf = secrets.token_urlsafe(24)
        self.denied: dict[int, int] = {401: 0, 403: 0, 429: 0}

    @property
    def open_mode(self) -> bool:
        return not self._tokens

    def describe(self) -> str:
        if self.open_mode:
            return ("no tokens configured (dashboard.auth.tokens_file): serving loopback "
                    "clients only, each as the local admin")  # fmt: skip
        return f"{len(self._tokens)} token(s) configured; viewer, operator and admin roles"

    # -- identification ------------------------------------------------------------------

    def _identify(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            known = self._match(header[7:].strip())
            if known is None:
                raise _error(web.HTTPUnauthorized, "unknown token")
            return Caller(known[0], known[1], "token")
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            session = self._sessions.get(sid)
            if session is not None and session.expires > time.time():
                return session.caller
            self._sessions.pop(sid, None)
            if not self.open_mode:
                raise _error(web.HTTPUnauthorized, "session expired or unknown: log in again")
        if self.open_mode:
            if not _loopback(request.remote):
                raise _error(web.HTTPForbidden, "no tokens configured: this dashboard serves "
                             "loopback clients only")  # fmt: skip
            return Caller("local", "admin", "loopback", self._loopback_csrf)
        raise _error(web.HTTPUnauthorized,
                     "no credentials: send 'Authorization: Bearer <token>' or log in")  # fmt: skip

    def _match(self, given: str) -> tuple[str, str] | None:
        """(name, role) of a token, compared in constant time against every token."""
        found = None
        for token, entry in self._tokens.items():
            if hmac.compare_digest(token.encode(), given.encode()):
                found = entry
        return found

    def _rate_limited(self, key: str) -> float:
        """Seconds to wait, or 0 (a token bucket per key, burst twice the rate)."""
        rate = self._cfg.rate_limit_per_second
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        if key not in self._buckets and len(self._buckets) >= _MAX_BUCKETS:
            del self._buckets[next(iter(self._buckets))]  # the longest-known client goes
        tokens, last = self._buckets.get(key, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    # -- the middleware --------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                         ) -> web.StreamResponse:  # fmt: skip
        remote = request.remote or ""
        caller: Caller | None = None
        try:
            wait = self._rate_limited(f"addr:{remote}")
            if wait:
                raise _error(web.HTTPTooManyRequests, "rate limited",
                             **{"Retry-After": str(math.ceil(wait))})  # fmt: skip
            if request.path in _PUBLIC or request.path.startswith(_PUBLIC_PREFIX):
                return await handler(request)
            caller = self._identify(request)
            request[CALLER] = caller
            if caller.via == "token" and self._rate_limited(f"id:{caller.name}"):
                raise _error(web.HTTPTooManyRequests, "rate limited", **{"Retry-After": "1"})
            self._authorise(request, caller)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status in self.denied:
                self.denied[exc.status] += 1
            if exc.status in self.denied or request.method != "GET":  # refusals, failed changes
                self.audit.record(actor=caller.name if caller else "-",
                                  role=caller.role if caller else "-",
                                  action=f"{request.method} {request.path}",
                                  target=request.get(AUDIT_TARGET, ""), remote=remote,
                                  outcome=exc.status, reason=_reason(exc))  # fmt: skip
            raise
        if request.method != "GET":
            self.audit.record(actor=caller.name, role=caller.role,
                              action=f"{request.method} {request.path}",
                              target=request.get(AUDIT_TARGET, ""), remote=remote,
                              outcome=response.status)  # fmt: skip
        return response

    def _authorise(self, request: web.Request, caller: Caller) -> None:
        route = request.match_info.route.resource
        canonical = route.canonical if route is not None else request.path
        need = self._roles.get((request.method, canonical))
        if need is None and request.method != "GET":
            need = "admin"  # a change nobody declared: the highest bar
        if need is not None and ROLES[caller.role] < ROLES[need]:
            raise _error(web.HTTPForbidden, f"role {caller.role} may not {request.method} "
                         f"{canonical} (needs {need})")  # fmt: skip
        # A browser sends its cookie (or its loopback address) on its own: a change must
        # also carry the CSRF token that only our page could read.
        if request.method != "GET" and caller.via != "token":
            given = request.headers.get(CSRF_HEADER, "")
            if not caller.csrf or not hmac.compare_digest(given.encode(), caller.csrf.encode()):
                raise _error(web.HTTPForbidden, f"missing or wrong {CSRF_HEADER} header")

    # -- login, logout, whoami ---------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        form: Any = (await request.json() if request.content_type == "application/json"
                     else await request.post())  # fmt: skip
        given = str(form.get("token", "")) if hasattr(form, "get") else ""
        remote = request.remote or ""
        known = self._match(given)
        if known is None:
            self.audit.record(actor="-", role="-", action="login", target="", remote=remote,
                              outcome=401, reason="unknown token")  # fmt: skip
            self.denied[401] += 1
            raise _error(web.HTTPUnauthorized, "unknown token")
        name, role = known
        now = time.time()
        for old in [k for k, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[old]
        sid = secrets.token_urlsafe(32)
        caller = Caller(name, role, "session", secrets.token_urlsafe(24))
        self._sessions[sid] = _Session(caller, time.time() + self._cfg.session_seconds)
        self.audit.record(actor=name, role=role, action="login", target="", remote=remote,
                          outcome=200)  # fmt: skip
        response = web.json_response({"name": name, "role": role, "csrf": caller.csrf})
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/",
                            max_age=int(self._cfg.session_seconds),
                            secure=request.secure)  # fmt: skip
        return response

    async def logout(self, request: web.Request) -> web.Response:
        sid = request.cookies.get(SESSION_COOKIE, "")
        self._sessions.pop(sid, None)
        response = web.json_response({"logged_out": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def whoami(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        return web.json_response({"name": caller.name, "role": caller.role, "via": caller.via,
                                  "csrf": caller.csrf, "open_mode": self.open_mode})  # fmt: skip


def _reason(exc: web.HTTPException) -> str:
    try:
        return str(orjson.loads(exc.text or "{}").get("error", exc.reason))
    except orjson.JSONDecodeError:
        return exc.reason
